"""A tiny OneFormer trained jointly (task sampled per image) on the toy dataset learns:
the total loss and every final-layer term fall between averaged windows."""
import numpy as np
from mmengine.config import Config
from mmengine.hooks import Hook
from mmengine.runner import Runner

import projects.oneformer  # noqa: F401
from tests.utils import REPO, make_toy_dataset

TERMS = ('loss', 'loss_cls', 'loss_mask', 'loss_dice', 'loss_contrastive')
ITERS, WINDOW = 60, 15


class RecordTasks(Hook):
    """Collects the task of every training sample."""

    def __init__(self):
        self.tasks = []

    def before_train_iter(self, runner, batch_idx, data_batch=None):
        self.tasks += [s.task for s in data_batch['data_samples']]


def test_joint_training_lowers_every_loss_term(tmp_path):
    root = make_toy_dataset(str(tmp_path / 'toy'), num_train=16, num_val=2, size=128)
    cfg = Config.fromfile(f'{REPO}/configs/oneformer_r18_toy.py')
    cfg.work_dir = str(tmp_path / 'work')
    cfg.train_dataloader.dataset.data_root = root
    cfg.train_dataloader.batch_size = 2
    cfg.train_cfg.max_iters = ITERS
    cfg.train_cfg.val_interval = ITERS + 1  # training only
    cfg.param_scheduler.end = ITERS
    cfg.default_hooks.checkpoint.interval = ITERS + 1
    cfg.default_hooks.logger.interval = WINDOW
    cfg.randomness = dict(seed=0, deterministic=False)
    runner = Runner.from_cfg(cfg)
    recorder = RecordTasks()
    runner.register_hook(recorder)
    runner.train()

    # joint training: every task occurs among the 120 sampled images
    counts = {t: recorder.tasks.count(t) for t in ('semantic', 'instance', 'panoptic')}
    assert len(recorder.tasks) == 2 * ITERS and min(counts.values()) >= 20, counts
    for term in TERMS:
        history = runner.message_hub.get_scalar(f'train/{term}').data[0]
        assert len(history) == ITERS, term
        first, last = np.mean(history[:WINDOW]), np.mean(history[-WINDOW:])
        assert last < first, f'{term}: first {first:.4f} -> last {last:.4f}'
