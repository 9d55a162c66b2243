"""A tiny OneFormer trained jointly (task sampled per image) on the toy dataset learns,
and one three-task evaluation run equals three single-task runs, predictions and
metrics."""
import copy
import json
import os
import os.path as osp
import subprocess
import sys

import numpy as np
import pytest
from mmengine.hooks import Hook
from mmengine.runner import Runner

from mmdet.evaluation.functional import INSTANCE_OFFSET

import projects.oneformer  # noqa: F401
from tests.utils import REPO, _load_tool, make_toy_dataset

TERMS = ('loss', 'loss_cls', 'loss_mask', 'loss_dice', 'loss_contrastive')
ITERS, WINDOW = 60, 15
EVALUATOR_OF = dict(panoptic=0, instance=1, semantic=2)  # toy base's evaluator order
# mmdet's data-sample field of each task's prediction
FIELD_OF = dict(panoptic='pred_panoptic_seg', instance='pred_instances',
                semantic='pred_sem_seg')


class RecordTasks(Hook):
    """Collects the task of every training sample."""

    def __init__(self):
        self.tasks = []

    def before_train_iter(self, runner, batch_idx, data_batch=None):
        self.tasks += [s.task for s in data_batch['data_samples']]


class RecordPredictions(Hook):
    """Keeps every test image's predictions: ``{img_path: {task: arrays}}``."""

    def __init__(self):
        self.predictions = {}

    def after_test_iter(self, runner, batch_idx, data_batch=None, outputs=None):
        for sample in outputs:
            got = self.predictions.setdefault(sample.img_path, {})
            for task, field in FIELD_OF.items():
                if field not in sample:
                    continue
                pred = sample.get(field)
                keys = ('masks', 'labels', 'scores') if task == 'instance' \
                    else ('sem_seg', )
                got[task] = {k: pred.get(k).cpu().numpy() for k in keys}


def _toy_cfg(root, work_dir):
    """The demo config on the data under ``root`` (compare_toy's helper)."""
    return _load_tool('tools/benchmarks/compare_toy.py').toy_config(
        'configs/oneformer_r18_toy.py', root, work_dir, ITERS)


def train_and_record(root, work_dir):
    """Train the demo model ITERS iterations on ``root``; write the sampled tasks
    and the loss histories to ``work_dir/record.json``."""
    cfg = _toy_cfg(root, work_dir)
    cfg.train_dataloader.batch_size = 2
    cfg.default_hooks.logger.interval = WINDOW
    cfg.randomness = dict(seed=0, deterministic=False)
    runner = Runner.from_cfg(cfg)
    recorder = RecordTasks()
    runner.register_hook(recorder)
    runner.train()
    history = {term: runner.message_hub.get_scalar(f'train/{term}').data[0].tolist()
               for term in TERMS}
    with open(osp.join(work_dir, 'record.json'), 'w') as f:
        json.dump(dict(tasks=recorder.tasks, history=history), f)


@pytest.fixture(scope='module')
def trained(tmp_path_factory):
    """(recorded tasks, loss histories, checkpoint path, toy root) after ITERS
    iterations. Trained in a fresh process: what a 60-iteration model learns
    depends on the random state, which earlier in-process runs may shift."""
    tmp = tmp_path_factory.mktemp('joint')
    root = make_toy_dataset(str(tmp / 'toy'), num_train=16, num_val=6, size=128)
    work_dir = str(tmp / 'work')
    script = ('import torch; torch.set_num_threads(1); '
              'from tests.test_engine.test_joint_training import train_and_record; '
              f'train_and_record({root!r}, {work_dir!r})')
    proc = subprocess.run(
        [sys.executable, '-c', script], cwd=REPO, capture_output=True, text=True,
        env=dict(os.environ, OMP_NUM_THREADS='1', PYTHONPATH=REPO), timeout=900)
    assert proc.returncode == 0, (proc.stdout + proc.stderr)[-4000:]
    with open(osp.join(work_dir, 'record.json')) as f:
        record = json.load(f)
    return (record['tasks'], record['history'],
            osp.join(work_dir, f'iter_{ITERS}.pth'), root)


def test_joint_training_lowers_every_loss_term(trained):
    tasks, histories, _, _ = trained
    # joint training: every task occurs among the 120 sampled images
    counts = {t: tasks.count(t) for t in ('semantic', 'instance', 'panoptic')}
    assert len(tasks) == 2 * ITERS and min(counts.values()) >= 20, counts
    for term in TERMS:
        history = histories[term]
        assert len(history) == ITERS, term
        first, last = np.mean(history[:WINDOW]), np.mean(history[-WINDOW:])
        assert last < first, f'{term}: first {first:.4f} -> last {last:.4f}'


def _test(root, work_dir, checkpoint, name, tasks=None, task=None):
    cfg = _toy_cfg(root, work_dir)
    cfg.load_from = checkpoint
    cfg.experiment_name = name
    # no object threshold, so that the briefly trained model has panoptic segments
    cfg.model.test_cfg.update(tasks=tasks, task=task, object_mask_thr=0.0)
    if task is not None:  # a single-task run feeds only that task's metric
        cfg.test_evaluator = [copy.deepcopy(cfg.test_evaluator[EVALUATOR_OF[task]])]
    runner = Runner.from_cfg(cfg)
    recorder = RecordPredictions()
    runner.register_hook(recorder)
    return runner.test(), recorder.predictions, cfg.model.panoptic_head


def test_three_task_run_equals_three_single_task_runs(trained, tmp_path):
    _, _, checkpoint, root = trained
    joint, joint_preds, head = _test(root, str(tmp_path / 'all'), checkpoint, 'all',
                                     tasks=['panoptic', 'instance', 'semantic'])
    single, single_preds = {}, {}
    for task in EVALUATOR_OF:
        metrics, preds, _ = _test(root, str(tmp_path / task), checkpoint, task,
                                  task=task)
        single.update(metrics)
        for path, got in preds.items():
            single_preds.setdefault(path, {}).update(got)
    assert joint == single
    # every image's prediction of every task is the same: the labels exactly,
    # the scores within float rounding (the three tasks' queries go through
    # the shared cross-attention as one batch, which rounds otherwise than one
    # task's), and so the masks and label maps up to the few pixels whose mask
    # logit or class margin lies within that rounding of its threshold (after
    # one training-path change: 2 of 327680 mask pixels, one query's pixel)
    assert len(joint_preds) == 6 and joint_preds.keys() == single_preds.keys()
    for path, got in joint_preds.items():
        assert got.keys() == single_preds[path].keys() == FIELD_OF.keys(), path
        for task, arrays in got.items():
            for key, value in arrays.items():
                expected, where = single_preds[path][task][key], f'{path} {task} {key}'
                if key == 'scores':
                    # a flipped pixel (logit about 0, sigmoid 0.5) moves its mask's
                    # score, a mean sigmoid of at least 0.5, by at most 1 / area
                    masks, other = arrays['masks'], single_preds[path][task]['masks']
                    flipped = (masks != other).reshape(len(masks), -1).sum(1)
                    area = np.maximum(other.reshape(len(other), -1).sum(1), 1)
                    assert np.all(np.abs(value - expected) <= 1e-6 + expected * (
                        1e-5 + 2 * flipped / area)), where
                elif key == 'labels':
                    np.testing.assert_array_equal(value, expected, err_msg=where)
                else:
                    assert value.shape == expected.shape, where
                    differ = np.count_nonzero(value != expected)
                    assert differ <= 1e-4 * value.size, \
                        f'{where}: {differ} of {value.size} pixels differ'
    # the comparison is not vacuous: each task predicts something, and the
    # instance and semantic metrics are non-trivial (what PQ a 60-iteration
    # toy model reaches hangs on float rounding in training)
    void = head.num_things_classes + head.num_stuff_classes
    for got in joint_preds.values():
        labels = got['panoptic']['sem_seg'] % INSTANCE_OFFSET
        assert (labels != void).any()
        assert len(got['instance']['scores']) > 0
    assert joint['coco/segm_mAP'] > 0
    assert joint['sem_seg/mIoU'] > 0
