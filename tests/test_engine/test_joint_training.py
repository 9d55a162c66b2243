"""A tiny OneFormer trained jointly (task sampled per image) on the toy dataset learns,
and one three-task evaluation run equals three single-task runs."""
import copy

import numpy as np
import pytest
from mmengine.config import Config
from mmengine.hooks import Hook
from mmengine.runner import Runner

import projects.oneformer  # noqa: F401
from tests.utils import REPO, make_toy_dataset

TERMS = ('loss', 'loss_cls', 'loss_mask', 'loss_dice', 'loss_contrastive')
ITERS, WINDOW = 60, 15
EVALUATOR_OF = dict(panoptic=0, instance=1, semantic=2)  # toy base's evaluator order


class RecordTasks(Hook):
    """Collects the task of every training sample."""

    def __init__(self):
        self.tasks = []

    def before_train_iter(self, runner, batch_idx, data_batch=None):
        self.tasks += [s.task for s in data_batch['data_samples']]


def _toy_cfg(root, work_dir):
    cfg = Config.fromfile(f'{REPO}/configs/oneformer_r18_toy.py')
    cfg.work_dir = work_dir
    for split in ('train', 'val', 'test'):
        cfg[f'{split}_dataloader'].dataset.data_root = root
    for evaluators in (cfg.val_evaluator, cfg.test_evaluator):
        for evaluator in evaluators:
            for key in ('ann_file', 'seg_prefix'):
                if key in evaluator:
                    evaluator[key] = evaluator[key].replace('data/toy/', root + '/')
    return cfg


@pytest.fixture(scope='module')
def trained(tmp_path_factory):
    """(runner, recorded tasks, checkpoint path, toy root) after ITERS iterations."""
    tmp = tmp_path_factory.mktemp('joint')
    root = make_toy_dataset(str(tmp / 'toy'), num_train=16, num_val=6, size=128)
    cfg = _toy_cfg(root, str(tmp / 'work'))
    cfg.train_dataloader.batch_size = 2
    cfg.train_cfg.max_iters = ITERS
    cfg.train_cfg.val_interval = ITERS + 1  # training only
    cfg.param_scheduler.end = ITERS
    cfg.default_hooks.checkpoint.interval = ITERS
    cfg.default_hooks.logger.interval = WINDOW
    cfg.randomness = dict(seed=0, deterministic=False)
    runner = Runner.from_cfg(cfg)
    recorder = RecordTasks()
    runner.register_hook(recorder)
    runner.train()
    return runner, recorder.tasks, str(tmp / 'work' / f'iter_{ITERS}.pth'), root


def test_joint_training_lowers_every_loss_term(trained):
    runner, tasks, _, _ = trained
    # joint training: every task occurs among the 120 sampled images
    counts = {t: tasks.count(t) for t in ('semantic', 'instance', 'panoptic')}
    assert len(tasks) == 2 * ITERS and min(counts.values()) >= 20, counts
    for term in TERMS:
        history = runner.message_hub.get_scalar(f'train/{term}').data[0]
        assert len(history) == ITERS, term
        first, last = np.mean(history[:WINDOW]), np.mean(history[-WINDOW:])
        assert last < first, f'{term}: first {first:.4f} -> last {last:.4f}'


def _test(root, work_dir, checkpoint, name, tasks=None, task=None):
    cfg = _toy_cfg(root, work_dir)
    cfg.load_from = checkpoint
    cfg.experiment_name = name
    # a low object threshold so that the briefly trained model has panoptic segments
    cfg.model.test_cfg.update(tasks=tasks, task=task, object_mask_thr=0.3)
    if task is not None:  # a single-task run feeds only that task's metric
        cfg.test_evaluator = [copy.deepcopy(cfg.test_evaluator[EVALUATOR_OF[task]])]
    return Runner.from_cfg(cfg).test()


def test_three_task_run_equals_three_single_task_runs(trained, tmp_path):
    _, _, checkpoint, root = trained
    joint = _test(root, str(tmp_path / 'all'), checkpoint, 'all',
                  tasks=['panoptic', 'instance', 'semantic'])
    single = {}
    for task in EVALUATOR_OF:
        single.update(_test(root, str(tmp_path / task), checkpoint, task, task=task))
    assert joint == single
    # the comparison is not vacuous: each task's metric is non-trivial
    assert joint['coco_panoptic/PQ'] > 0
    assert joint['coco/segm_mAP'] > 0
    assert joint['sem_seg/mIoU'] > 0
