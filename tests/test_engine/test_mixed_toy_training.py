"""configs/oneformer/oneformer_r18_toy-mixed.py on the toy generator's three splits:
batches mix the sources by their ratio, each sample trains the tasks its annotation
supplies, and one test run scores each val set on its own tasks."""
import json
import os.path as osp

import torch
from mmengine.hooks import Hook
from mmengine.registry import init_default_scope
from mmengine.runner import Runner

import projects.oneformer  # noqa: F401
from projects.common import load_config
from tests.utils import REPO, _load_tool, make_toy_dataset

CONFIG = osp.join(REPO, 'configs/oneformer/oneformer_r18_toy-mixed.py')


def _mixed_cfg(root, work_dir, iters=1):
    cfg = load_config(CONFIG, dict(data_root=root), work_dir, 'none')
    cfg.train_cfg.update(max_iters=iters, val_interval=iters + 1)
    cfg.param_scheduler.end = iters
    cfg.default_hooks.checkpoint.interval = iters
    cfg.default_hooks.logger.interval = 1
    return cfg


class RecordBatches(Hook):
    """The (dataset, task) of every training sample, per batch."""

    def __init__(self):
        self.batches = []

    def before_train_iter(self, runner, batch_idx, data_batch=None):
        self.batches.append([(s.dataset_name, s.task)
                             for s in data_batch['data_samples']])


def test_mixed_toy_config_trains_and_evaluates_per_dataset(tmp_path):
    tool = _load_tool('tools/misc/make_toy_dataset.py')
    root = make_toy_dataset(str(tmp_path / 'toy'), num_train=4, num_val=1, size=64)
    tool.make_single_task_splits(root, num_train=4, num_val=1, size=64)
    root = root.rstrip('/') + '/'
    torch.set_num_threads(1)
    init_default_scope('mmdet')
    runner = Runner.from_cfg(_mixed_cfg(root, str(tmp_path / 'work')))
    recorder = RecordBatches()
    runner.register_hook(recorder)
    runner.train()
    assert len(recorder.batches) == 1
    for batch in recorder.batches:
        # source_ratio [2, 1, 1] of a batch of 4
        assert [name for name, _ in batch] == [
            'toy', 'toy', 'toy-semantic', 'toy-instance']
        assert batch[2][1] == 'semantic' and batch[3][1] == 'instance'
    metrics = runner.test()
    table = json.loads((tmp_path / 'work' / 'task_metrics_test.json').read_text())
    assert set(table['toy']) == {'panoptic', 'instance', 'semantic'}
    assert set(table['toy-semantic']) == {'semantic'}
    assert set(table['toy-instance']) == {'instance'}
    assert 'toy-semantic/sem_seg/mIoU' in metrics
    assert 'toy-instance/coco/segm_mAP' in metrics
