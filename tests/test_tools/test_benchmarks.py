"""tools/benchmarks/*.py measure the tree they are in: a before / after
comparison runs the same script from a second worktree, and the package this
checkout installs (editable) must not stand in for that worktree's code."""
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


def test_every_benchmark_is_checked():
    assert {'multitask_inference.py', 'train_step.py', 'vs_hf.py',
            'evaluation.py'} <= set(SCRIPTS)


@pytest.mark.parametrize('script', SCRIPTS)
def test_benchmark_imports_the_package_of_its_own_tree(tmp_path, script):
    """A copy of the tree whose package says where it was imported from:
    the script, run from the copy without PYTHONPATH, imports the copy."""
    shutil.copytree(osp.join(REPO, 'projects'), tmp_path / 'projects',
                    ignore=shutil.ignore_patterns('__pycache__'))
    shutil.copytree(osp.join(REPO, 'tools/benchmarks'),
                    tmp_path / 'tools/benchmarks',
                    ignore=shutil.ignore_patterns('__pycache__'))
    marker = tmp_path / 'projects/oneformer/__init__.py'
    marker.write_text(marker.read_text() +
                      "\nprint('projects imported from', __file__)\n")
    env = {k: v for k, v in os.environ.items() if k != 'PYTHONPATH'}
    proc = subprocess.run(
        [sys.executable, f'tools/benchmarks/{script}', '--help'],
        cwd=tmp_path, capture_output=True, text=True, timeout=300,
        env=dict(env, OMP_NUM_THREADS='1'))
    assert proc.returncode == 0, (proc.stdout + proc.stderr)[-3000:]
    assert f'projects imported from {marker}' in proc.stdout, \
        (proc.stdout + proc.stderr)[-3000:]
