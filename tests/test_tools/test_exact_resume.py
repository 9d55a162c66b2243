"""Resume is exact: N iterations, ``kill -9``, ``--resume`` to 2N equals 2N straight.

The toy OneFormer draws from torch's generator (point sampling of the mask losses,
dropout of the query initialiser) and numpy's (task, flip, resize, crop), so a
generator left at its seeded state after resume changes the losses from iteration
N + 1 on. Compared bit for bit: every tensor of the final checkpoint (weights,
optimizer state, every rank's random state) and every logged loss and lr.
"""
import os
import os.path as osp
import signal
import subprocess
import sys
import time

import pytest
import torch

import projects.oneformer  # noqa: F401  torch.load allow-list
from tests.utils import REPO, make_toy_dataset

CONFIG = 'configs/oneformer_r18_toy.py'
N = 3  # iterations before the kill; the runs go to 2N


@pytest.fixture(scope='module')
def toy_root(tmp_path_factory):
    return make_toy_dataset(str(tmp_path_factory.mktemp('toy')), num_train=4,
                            num_val=1, size=64)


def _options(root):
    data = 'train_dataloader.dataset.'
    return [
        f'{data}data_root={root}/', 'train_dataloader.batch_size=2',
        # RandomResize and RandomCrop of the toy pipeline at the 64 x 64 toy size
        f'{data}pipeline.3.scale=(64,64)', f'{data}pipeline.4.crop_size=(64,64)',
        f'train_cfg.max_iters={2 * N}', f'param_scheduler.end={2 * N}',
        'val_dataloader=None', 'val_cfg=None', 'val_evaluator=None',
        f'default_hooks.checkpoint.interval={N}',
        'default_hooks.checkpoint.max_keep_ckpts=-1',
        'default_hooks.logger.interval=1', 'log_processor.window_size=1',
        'randomness.seed=0']


def _env():
    env = dict(os.environ, PYTHON=sys.executable, OMP_NUM_THREADS='1',
               MKL_NUM_THREADS='1', PYTHONPATH=REPO)
    env.pop('CUDA_VISIBLE_DEVICES', None)
    return env


def _command(root, work_dir, gpus, resume=False, port=None):
    tail = ['--work-dir', work_dir] + (['--resume'] if resume else []) + [
        '--cfg-options', *_options(root)]
    if gpus == 1:
        return [sys.executable, 'tools/train.py', CONFIG] + tail, _env()
    return (['bash', 'tools/dist_train.sh', CONFIG, str(gpus)] + tail,
            dict(_env(), PORT=str(port)))


def _start(root, work_dir, gpus, resume=False, port=None):
    cmd, env = _command(root, work_dir, gpus, resume, port)
    return subprocess.Popen(cmd, cwd=REPO, env=env, stdout=subprocess.PIPE,
                            stderr=subprocess.STDOUT, text=True)


def _finish(proc):
    log, _ = proc.communicate(timeout=600)
    assert proc.returncode == 0, log[-4000:]
    return log


def _process_tree(pid):
    """``pid`` and its descendants (torchrun starts its workers in sessions of
    their own, so a process-group kill would leave them training)."""
    parents = {}
    for entry in os.listdir('/proc'):
        if entry.isdigit():
            try:
                with open(f'/proc/{entry}/stat') as f:
                    # the command name (2nd field) is parenthesised, may hold spaces
                    parents[int(entry)] = int(f.read().rsplit(')', 1)[1].split()[1])
            except (OSError, IndexError, ValueError):
                pass
    tree, frontier = [pid], [pid]
    while frontier:
        frontier = [child for child, parent in parents.items() if parent in frontier]
        tree += frontier
    return tree


def _kill_tree(pid):
    for member in _process_tree(pid):
        try:
            os.kill(member, signal.SIGKILL)
        except ProcessLookupError:
            pass


def _train_then_kill(root, work_dir, gpus, port=None):
    """Start a 2N run and ``kill -9`` it (and, distributed, its workers) once
    iteration N's checkpoint is on disk."""
    cmd, env = _command(root, work_dir, gpus, port=port)
    proc = subprocess.Popen(cmd, cwd=REPO, env=env, stdout=subprocess.DEVNULL,
                            stderr=subprocess.DEVNULL)
    pointer = osp.join(work_dir, 'last_checkpoint')
    deadline = time.time() + 600
    try:
        while time.time() < deadline and proc.poll() is None:
            if osp.exists(pointer):
                with open(pointer) as f:
                    if f.read().strip().endswith(f'iter_{N}.pth'):
                        break
            time.sleep(0.02)
        assert proc.poll() is None, 'the run ended before it could be killed'
    finally:
        _kill_tree(proc.pid)
        proc.wait()
    assert proc.returncode == -signal.SIGKILL
    time.sleep(1)  # any survivor would write iteration 2N's checkpoint
    assert not osp.exists(osp.join(work_dir, f'iter_{2 * N}.pth'))


def _assert_identical(a, b, where=''):
    if isinstance(a, torch.Tensor):
        assert isinstance(b, torch.Tensor) and a.dtype == b.dtype, where
        assert torch.equal(a, b), f'{where} differs'
    elif isinstance(a, dict):
        assert a.keys() == b.keys(), where
        for key in a:
            _assert_identical(a[key], b[key], f'{where}.{key}')
    elif isinstance(a, (list, tuple)):
        assert len(a) == len(b), where
        for i, (x, y) in enumerate(zip(a, b)):
            _assert_identical(x, y, f'{where}[{i}]')
    else:
        assert a == b, f'{where}: {a!r} != {b!r}'


def _final(work_dir):
    return torch.load(osp.join(work_dir, f'iter_{2 * N}.pth'), weights_only=True)


def _check_equal(straight, resumed, world_size):
    a, b = _final(straight), _final(resumed)
    assert a['meta']['iter'] == b['meta']['iter'] == 2 * N
    _assert_identical(a['state_dict'], b['state_dict'], 'state_dict')
    _assert_identical(a['optimizer'], b['optimizer'], 'optimizer')
    _assert_identical(a['param_schedulers'], b['param_schedulers'],
                      'param_schedulers')
    assert len(a['random_states']) == world_size
    _assert_identical(a['random_states'], b['random_states'], 'random_states')
    # the resumed run's history starts with the killed run's first N iterations
    scalars_a = a['message_hub']['log_scalars']
    scalars_b = b['message_hub']['log_scalars']
    logged = [k for k in scalars_a if 'loss' in k or k.endswith('/lr')]
    assert 'train/loss' in logged and 'train/loss_contrastive' in logged
    for key in logged:
        values_a, values_b = scalars_a[key].data[0], scalars_b[key].data[0]
        assert len(values_a) == 2 * N, key
        assert values_a.tobytes() == values_b.tobytes(), (
            f'{key}: {values_a.tolist()} vs {values_b.tolist()}')
    return a


def test_resume_after_kill_is_bit_identical(toy_root, tmp_path):
    straight, split = str(tmp_path / 'straight'), str(tmp_path / 'split')
    uninterrupted = _start(toy_root, straight, 1)  # runs alongside the killed run
    _train_then_kill(toy_root, split, 1)
    _finish(uninterrupted)
    log = _finish(_start(toy_root, split, 1, resume=True))
    assert f'resumed epoch: 0, iter: {N}' in log, log[-3000:]
    _check_equal(straight, split, world_size=1)


def test_two_process_resume_after_kill_is_bit_identical(toy_root, tmp_path):
    straight, split = str(tmp_path / 'straight'), str(tmp_path / 'split')
    uninterrupted = _start(toy_root, straight, 2, port=29631)
    _train_then_kill(toy_root, split, 2, port=29633)
    _finish(uninterrupted)
    log = _finish(_start(toy_root, split, 2, resume=True, port=29635))
    assert f'resumed epoch: 0, iter: {N}' in log, log[-3000:]
    final = _check_equal(straight, split, world_size=2)
    # diff_rank_seed: the two ranks' generators differ
    numpy_keys = [s['numpy'][1] for s in final['random_states']]
    assert not torch.equal(*numpy_keys)
