"""One table for the three tasks of one evaluation run (PQ / AP / mIoU)."""
import json
import os.path as osp
from typing import Dict, Optional

from mmengine.hooks import Hook
from mmengine.logging import print_log
from terminaltables import AsciiTable

from mmdet.registry import HOOKS

# task -> (metric key prefix, [(column, key)], factor to percent)
TASK_METRICS = {
    'panoptic': ('coco_panoptic/', [('PQ', 'PQ'), ('PQ_th', 'PQ_th'),
                                    ('PQ_st', 'PQ_st'), ('SQ', 'SQ'),
                                    ('RQ', 'RQ')], 1.0),
    'instance': ('coco/', [('AP', 'segm_mAP'), ('AP50', 'segm_mAP_50'),
                           ('AP75', 'segm_mAP_75')], 100.0),
    'semantic': ('sem_seg/', [('mIoU', 'mIoU'), ('aAcc', 'aAcc')], 1.0),
}


def task_metrics(metrics: Dict[str, float]) -> Dict[str, Dict[str, float]]:
    """Group an evaluator's flat metrics by task, in percent."""
    table = {}
    for task, (prefix, columns, factor) in TASK_METRICS.items():
        row = {name: round(float(metrics[prefix + key]) * factor, 2)
               for name, key in columns if prefix + key in metrics}
        if row:
            table[task] = row
    return table


def format_task_metrics(table: Dict[str, Dict[str, float]]) -> str:
    """The grouped metrics as an ASCII table: task | metric | value (%)."""
    rows = [['task', 'metric', 'value (%)']]
    for task, row in table.items():
        for i, (name, value) in enumerate(row.items()):
            rows.append([task if i == 0 else '', name, f'{value:.2f}'])
    return AsciiTable(rows).table


@HOOKS.register_module()
class TaskMetricsTableHook(Hook):
    """After validation/testing, print PQ, AP and mIoU as one table and save it as
    ``<work_dir>/<prefix>_<mode>.json``.

    Args:
        prefix (str): JSON file name prefix. Defaults to 'task_metrics'.
    """
    priority = 'LOW'

    def __init__(self, prefix: str = 'task_metrics') -> None:
        self.prefix = prefix

    def _report(self, runner, metrics: Optional[Dict[str, float]], mode: str) -> None:
        if not metrics or runner.rank != 0:
            return
        table = task_metrics(metrics)
        if not table:
            return
        print_log(f'Three-task results ({mode}):\n' + format_task_metrics(table),
                  logger='current')
        path = osp.join(runner.work_dir, f'{self.prefix}_{mode}.json')
        with open(path, 'w') as f:
            json.dump(dict(table, iteration=runner.iter), f, indent=2)
        print_log(f'saved the table to {path}', logger='current')

    def after_val_epoch(self, runner, metrics=None) -> None:
        self._report(runner, metrics, 'val')

    def after_test_epoch(self, runner, metrics=None) -> None:
        self._report(runner, metrics, 'test')
