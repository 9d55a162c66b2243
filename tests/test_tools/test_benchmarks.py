"""tools/benchmarks/*.py measure the tree they are in: a before / after
comparison runs the same script from a second worktree, and the package this
checkout installs (editable) must not stand in for that worktree's code. The
GPU check, which no CPU machine can time, runs through on a CPU."""
import json
import os
import os.path as osp
import shutil
import subprocess
import sys

import pytest

from tests.utils import REPO

SCRIPTS = sorted(
    name for name in os.listdir(osp.join(REPO, 'tools/benchmarks'))
    if name.endswith('.py'))
SMOKE_RUN = 'gpu_swin_l.py'  # run through from a copy below, not only --help


def copy_tree(tmp_path, *folders) -> str:
    """``folders`` of the checkout copied into tmp_path, whose package says
    where it was imported from; returns that line."""
    for folder in ('projects', 'tools/benchmarks') + folders:
        shutil.copytree(osp.join(REPO, folder), tmp_path / folder,
                        ignore=shutil.ignore_patterns('__pycache__'))
    marker = tmp_path / 'projects/oneformer/__init__.py'
    marker.write_text(marker.read_text() +
                      "\nprint('projects imported from', __file__)\n")
    return f'projects imported from {marker}'


def test_every_benchmark_is_checked():
    assert {'multitask_inference.py', 'train_step.py', 'vs_hf.py',
            'evaluation.py'} <= set(SCRIPTS)


def run_from_copy(tmp_path, args, timeout=300):
    """python ``args`` in tmp_path without PYTHONPATH, one thread."""
    env = {k: v for k, v in os.environ.items() if k != 'PYTHONPATH'}
    return subprocess.run(
        [sys.executable] + args, cwd=tmp_path, capture_output=True, text=True,
        timeout=timeout, env=dict(env, OMP_NUM_THREADS='1'))


@pytest.mark.parametrize('script', [s for s in SCRIPTS if s != SMOKE_RUN])
def test_benchmark_imports_the_package_of_its_own_tree(tmp_path, script):
    """A copy of the tree whose package says where it was imported from:
    the script, run from the copy without PYTHONPATH, imports the copy."""
    imported = copy_tree(tmp_path)
    proc = run_from_copy(tmp_path, [f'tools/benchmarks/{script}', '--help'])
    assert proc.returncode == 0, (proc.stdout + proc.stderr)[-3000:]
    assert imported in proc.stdout, (proc.stdout + proc.stderr)[-3000:]


def test_gpu_benchmark_runs_through_on_cpu(tmp_path):
    """gpu_swin_l.py waits for a GPU machine; a CPU smoke run (R50 at 64x64)
    from a copy of the tree keeps its whole path working: the copy's package,
    both models, every inference row and the training steps, each a number,
    and the ratios printed."""
    imported = copy_tree(tmp_path, 'configs')
    out = tmp_path / 'gpu.json'
    config = 'configs/oneformer/oneformer_r50_8xb2-160k_ade20k-512x512.py'
    proc = run_from_copy(tmp_path, [
        f'tools/benchmarks/{SMOKE_RUN}', '--device', 'cpu',
        '--oneformer', config, '--size', '64', '--queries', '20',
        '--images', '1', '--repeats', '1', '--iters', '1', '--warmup', '0',
        '--batch', '1', '--things', '2', '--out', str(out)], timeout=600)
    assert proc.returncode == 0, (proc.stdout + proc.stderr)[-3000:]
    assert imported in proc.stdout, (proc.stdout + proc.stderr)[-3000:]
    results = json.loads(out.read_text())
    for kind, outputs in (('oneformer', 'three tasks'),
                          ('mask2former', 'three outputs')):
        side = results[kind]
        for key in ('panoptic fp32', 'panoptic bf16', f'{outputs} fp32',
                    f'{outputs} bf16'):
            assert isinstance(side[f'img/s {key}'], float), side
        assert side['training']['s_per_iter'] > 0, side
    assert 'OneFormer' in results['oneformer']['model']
    assert results['mask2former']['model'].startswith('Mask2Former / '
                                                      'Mask2FormerHead')
    # the same backbone and queries on both sides
    for kind in ('oneformer', 'mask2former'):
        assert 'ResNet, ' in results[kind]['model']
        assert '20 queries' in results[kind]['model']
    assert 'training s/iter' in proc.stdout


def test_gpu_check_without_wheels_says_what_to_run(tmp_path):
    """The GPU machine cannot download: without the carried .whl/ the
    check stops at once with the command that makes it."""
    shutil.copytree(osp.join(REPO, 'tools/benchmarks'),
                    tmp_path / 'tools/benchmarks',
                    ignore=shutil.ignore_patterns('__pycache__'))
    proc = subprocess.run(
        ['bash', 'tools/benchmarks/gpu_check.sh', 'run'], cwd=tmp_path,
        capture_output=True, text=True, timeout=60,
        env=dict(os.environ, OUT=str(tmp_path / 'out')))
    assert proc.returncode == 2, proc.stdout + proc.stderr
    assert 'gpu_check.sh prepare' in proc.stdout
    assert 'carry .whl' in proc.stdout
