"""Concatenated val sets: each dataset scored by its own metrics, one table with a
dataset column."""
import json

import pytest
import torch
from mmengine.logging import MMLogger
from mmengine.registry import init_default_scope
from mmengine.structures import PixelData

import projects.oneformer  # noqa: F401
from mmdet.registry import EVALUATOR
from mmdet.structures import DetDataSample
from projects.oneformer.engine import (TaskMetricsTableHook, format_task_metrics,
                                       metric_datasets, task_metrics)
from tests.test_engine.test_task_metrics_table import FakeRunner

init_default_scope('mmdet')


def _sample(dataset, pred, gt):
    sample = DetDataSample(metainfo=dict(dataset_name=dataset, img_path=f'{dataset}.png'))
    sample.pred_sem_seg = PixelData(sem_seg=torch.tensor(pred)[None])
    sample.gt_sem_seg = PixelData(sem_seg=torch.tensor(gt)[None])
    return sample


def _evaluator():
    evaluator = EVALUATOR.build(dict(type='PerDatasetEvaluator', metrics=dict(
        good=[dict(type='SemSegMetric', prefix='sem_seg')],
        bad=[dict(type='SemSegMetric', prefix='sem_seg')])))
    evaluator.dataset_meta = dict(classes=('a', 'b'))
    return evaluator


def test_each_dataset_is_scored_by_its_own_metrics():
    evaluator = _evaluator()
    gt = [[0, 0], [1, 1]]
    # interleaved datasets in one batch, as a concatenated val set on several
    # ranks gives them
    evaluator.process([_sample('good', gt, gt), _sample('bad', [[1, 1], [0, 0]], gt),
                       _sample('good', gt, gt)])
    metrics = evaluator.evaluate(3)
    assert metrics['good/sem_seg/mIoU'] == 100.0
    assert metrics['bad/sem_seg/mIoU'] == 0.0
    assert metric_datasets(metrics) == ['good', 'bad']
    assert task_metrics(metrics, 'bad')['semantic']['mIoU'] == 0.0
    assert task_metrics(metrics) == {}  # no metric without a dataset


def test_sample_of_an_unknown_dataset_names_it():
    with pytest.raises(ValueError, match=r"dataset 'other' \(other\.png\) has no "
                       r"metrics: .*\('good', 'bad'\)"):
        _evaluator().process([_sample('other', [[0]], [[0]])])


def test_table_and_json_have_a_dataset_column(tmp_path):
    MMLogger.get_instance('per-dataset-table')
    metrics = {'toy/coco_panoptic/PQ': 50.0, 'toy/coco/segm_mAP': 0.4,
               'toy/sem_seg/mIoU': 90.0, 'toy-semantic/sem_seg/mIoU': 80.0,
               'toy-instance/coco/segm_mAP': 0.3}
    TaskMetricsTableHook().after_test_epoch(FakeRunner(str(tmp_path)), metrics)
    saved = json.loads((tmp_path / 'task_metrics_test.json').read_text())
    assert saved['toy'] == dict(panoptic=dict(PQ=50.0), instance=dict(AP=40.0),
                                semantic=dict(mIoU=90.0))
    assert saved['toy-semantic'] == dict(semantic=dict(mIoU=80.0))
    assert saved['toy-instance'] == dict(instance=dict(AP=30.0))
    assert saved['evaluators']['toy-semantic'] == dict(semantic='SemSegMetric')
    text = format_task_metrics({}, datasets={
        d: (task_metrics(metrics, d), None) for d in metric_datasets(metrics)})
    lines = text.splitlines()
    assert lines[1].split('|')[1].strip() == 'dataset'
    assert '| toy-semantic | semantic | mIoU   | 80.00' in text
