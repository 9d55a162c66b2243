"""One table for the three tasks of one evaluation run (PQ / AP / mIoU)."""
import json
import os.path as osp
from typing import Dict, Optional

from mmengine.hooks import Hook
from mmengine.logging import print_log
from terminaltables import AsciiTable

from mmdet.registry import HOOKS
from ..tasks import METRIC_SOURCES

def _rows(metrics: Dict[str, float]):
    """(task, evaluator, row) for each task with results, in table order."""
    found = {}
    for task, evaluator, prefix, columns, factor in METRIC_SOURCES:
        if task in found:
            continue
        row = {name: round(float(metrics[prefix + key]) * factor, 2)
               for name, key in columns if prefix + key in metrics}
        if row:
            found[task] = (evaluator, row)
    return found


def task_metrics(metrics: Dict[str, float]) -> Dict[str, Dict[str, float]]:
    """Group an evaluator's flat metrics by task, in percent."""
    return {task: row for task, (_, row) in _rows(metrics).items()}


def task_evaluators(metrics: Dict[str, float]) -> Dict[str, str]:
    """The evaluator each task's row of :func:`task_metrics` comes from."""
    return {task: evaluator for task, (evaluator, _) in _rows(metrics).items()}


def format_task_metrics(table: Dict[str, Dict[str, float]],
                        evaluators: Optional[Dict[str, str]] = None) -> str:
    """The grouped metrics as an ASCII table: task | metric | value (%), plus an
    evaluator column when ``evaluators`` (task -> name) is given."""
    header = ['task', 'metric', 'value (%)']
    if evaluators is not None:
        header.append('evaluator')
    rows = [header]
    for task, row in table.items():
        for i, (name, value) in enumerate(row.items()):
            line = [task if i == 0 else '', name, f'{value:.2f}']
            if evaluators is not None:
                line.append(evaluators.get(task, '') if i == 0 else '')
            rows.append(line)
    return AsciiTable(rows).table


@HOOKS.register_module()
class TaskMetricsTableHook(Hook):
    """After validation/testing, print PQ, AP and mIoU (and the evaluator each
    comes from) as one table and save it as ``<work_dir>/<prefix>_<mode>.json``:
    ``{task: {metric: value}, 'evaluators': {task: evaluator}, 'iteration': i}``.

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
        evaluators = task_evaluators(metrics)
        print_log(f'Three-task results ({mode}):\n' +
                  format_task_metrics(table, evaluators), logger='current')
        path = osp.join(runner.work_dir, f'{self.prefix}_{mode}.json')
        with open(path, 'w') as f:
            json.dump(dict(table, evaluators=evaluators, iteration=runner.iter), f,
                      indent=2)
        print_log(f'saved the table to {path}', logger='current')

    def after_val_epoch(self, runner, metrics=None) -> None:
        self._report(runner, metrics, 'val')

    def after_test_epoch(self, runner, metrics=None) -> None:
        self._report(runner, metrics, 'test')
