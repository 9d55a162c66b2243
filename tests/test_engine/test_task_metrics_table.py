"""The three-task table groups an evaluator's metrics by task, in percent."""
import json

from mmengine.logging import MMLogger

from projects.oneformer.engine import (TaskMetricsTableHook, format_task_metrics,
                                       task_evaluators, task_metrics)

METRICS = {
    'coco_panoptic/PQ': 51.234, 'coco_panoptic/PQ_th': 40.0, 'coco_panoptic/PQ_st': 60.0,
    'coco_panoptic/SQ': 80.0, 'coco_panoptic/RQ': 64.0, 'coco/segm_mAP': 0.412,
    'coco/segm_mAP_50': 0.7, 'coco/segm_mAP_75': 0.4, 'coco/segm_mAP_s': 0.1,
    'sem_seg/mIoU': 73.5, 'sem_seg/aAcc': 90.1, 'data_time': 0.1,
}


def test_grouping_and_scale():
    table = task_metrics(METRICS)
    assert table == {
        'panoptic': dict(PQ=51.23, PQ_th=40.0, PQ_st=60.0, SQ=80.0, RQ=64.0),
        'instance': dict(AP=41.2, AP50=70.0, AP75=40.0),
        'semantic': dict(mIoU=73.5, aAcc=90.1),
    }
    text = format_task_metrics(table)
    assert '| panoptic | PQ' in text and '41.20' in text and '73.50' in text


def test_cityscapes_ap_comes_from_cityscapesscripts():
    """Cityscapes configs report AP from mmdet's CityScapesMetric (cityscapesscripts,
    fractions); it is preferred to a COCO AP of the same run."""
    metrics = dict(METRICS, **{'cityscapes/mAP': 0.456, 'cityscapes/AP@50': 0.7123})
    table = task_metrics(metrics)
    assert table['instance'] == dict(AP=45.6, AP50=71.23)
    assert table['panoptic']['PQ'] == 51.23 and table['semantic']['mIoU'] == 73.5
    evaluators = task_evaluators(metrics)
    assert evaluators == dict(panoptic='CocoPanopticMetric',
                              instance='CityScapesMetric', semantic='SemSegMetric')
    assert task_evaluators(METRICS)['instance'] == 'CocoMetric'
    text = format_task_metrics(table, evaluators)
    assert '| evaluator' in text and '| instance | AP ' in text
    assert 'CityScapesMetric' in text and 'CocoMetric ' not in text


def test_missing_tasks_are_left_out():
    assert task_metrics({'sem_seg/mIoU': 10.0}) == {'semantic': dict(mIoU=10.0)}


class FakeRunner:
    rank, iter = 0, 7

    def __init__(self, work_dir):
        self.work_dir = work_dir


def test_hook_saves_json(tmp_path):
    MMLogger.get_instance('table-test')
    hook = TaskMetricsTableHook()
    hook.after_test_epoch(FakeRunner(str(tmp_path)), METRICS)
    saved = json.loads((tmp_path / 'task_metrics_test.json').read_text())
    assert saved['iteration'] == 7 and saved['instance']['AP'] == 41.2
    assert saved['evaluators']['instance'] == 'CocoMetric'
    hook.after_val_epoch(FakeRunner(str(tmp_path)), {'data_time': 1.0})
    assert not (tmp_path / 'task_metrics_val.json').exists()  # nothing to tabulate
