"""One table for the three tasks of one evaluation run (PQ / AP / mIoU)."""
import json
import os.path as osp
from typing import Dict, List, Optional

from mmengine.hooks import Hook
from mmengine.logging import print_log
from terminaltables import AsciiTable

from mmdet.registry import HOOKS
from ..tasks import METRIC_SOURCES


def metric_datasets(metrics: Dict[str, float]) -> List[str]:
    """The datasets the metrics come from, in order: '' for plain keys
    (``coco_panoptic/PQ``), the name in front for ``PerDatasetEvaluator``'s
    (``toy/coco_panoptic/PQ``)."""
    prefixes = {prefix for _, _, prefix, _, _ in METRIC_SOURCES}
    found = []
    for key in metrics:
        head, _, rest = key.partition('/')
        dataset = head if any(rest.startswith(p) for p in prefixes) else (
            '' if any(key.startswith(p) for p in prefixes) else None)
        if dataset is not None and dataset not in found:
            found.append(dataset)
    return found


def _rows(metrics: Dict[str, float], dataset: str = ''):
    """(task, evaluator, row) for each task of ``dataset`` with results, in
    table order."""
    found = {}
    head = dataset + '/' if dataset else ''
    for task, evaluator, prefix, columns, factor in METRIC_SOURCES:
        if task in found:
            continue
        row = {name: round(float(metrics[head + prefix + key]) * factor, 2)
               for name, key in columns if head + prefix + key in metrics}
        if row:
            found[task] = (evaluator, row)
    return found


def task_metrics(metrics: Dict[str, float],
                 dataset: str = '') -> Dict[str, Dict[str, float]]:
    """Group an evaluator's flat metrics (of ``dataset``, see
    :func:`metric_datasets`) by task, in percent."""
    return {task: row for task, (_, row) in _rows(metrics, dataset).items()}


def task_evaluators(metrics: Dict[str, float], dataset: str = '') -> Dict[str, str]:
    """The evaluator each task's row of :func:`task_metrics` comes from."""
    return {task: evaluator
            for task, (evaluator, _) in _rows(metrics, dataset).items()}


def format_task_metrics(table: Dict[str, Dict[str, float]],
                        evaluators: Optional[Dict[str, str]] = None,
                        datasets: Optional[Dict[str, tuple]] = None) -> str:
    """The grouped metrics as an ASCII table: task | metric | value (%), plus an
    evaluator column when ``evaluators`` (task -> name) is given. With
    ``datasets`` (dataset -> (table, evaluators)) instead, a dataset column
    leads and every dataset's rows follow each other."""
    groups = datasets if datasets is not None else {None: (table, evaluators)}
    with_evaluator = any(ev is not None for _, ev in groups.values())
    header = (['dataset'] if datasets is not None else []) + [
        'task', 'metric', 'value (%)'] + (['evaluator'] if with_evaluator else [])
    rows = [header]
    for dataset, (group, group_evaluators) in groups.items():
        first_of_dataset = True
        for task, row in group.items():
            for i, (name, value) in enumerate(row.items()):
                line = [task if i == 0 else '', name, f'{value:.2f}']
                if with_evaluator:
                    line.append((group_evaluators or {}).get(task, '')
                                if i == 0 else '')
                if datasets is not None:
                    line.insert(0, dataset if first_of_dataset else '')
                    first_of_dataset = False
                rows.append(line)
    return AsciiTable(rows).table


@HOOKS.register_module()
class TaskMetricsTableHook(Hook):
    """After validation/testing, print PQ, AP and mIoU (and the evaluator each
    comes from) as one table and save it as ``<work_dir>/<prefix>_<mode>.json``:
    ``{task: {metric: value}, 'evaluators': {task: evaluator}, 'iteration': i}``.
    Metrics of several datasets (``PerDatasetEvaluator``) get a dataset column,
    and the JSON one level more: ``{dataset: {task: {metric: value}},
    'evaluators': {dataset: {task: evaluator}}, 'iteration': i}``.

    Args:
        prefix (str): JSON file name prefix. Defaults to 'task_metrics'.
    """
    priority = 'LOW'

    def __init__(self, prefix: str = 'task_metrics') -> None:
        self.prefix = prefix

    def _report(self, runner, metrics: Optional[Dict[str, float]], mode: str) -> None:
        if not metrics or runner.rank != 0:
            return
        datasets = metric_datasets(metrics)
        if datasets == ['']:
            table = task_metrics(metrics)
            evaluators = task_evaluators(metrics)
            text = format_task_metrics(table, evaluators)
        elif datasets:
            groups = {d or '-': (task_metrics(metrics, d), task_evaluators(metrics, d))
                      for d in datasets}
            table = {d: group for d, (group, _) in groups.items()}
            evaluators = {d: ev for d, (_, ev) in groups.items()}
            text = format_task_metrics({}, datasets=groups)
        else:
            return
        print_log(f'Three-task results ({mode}):\n' + text, logger='current')
        path = osp.join(runner.work_dir, f'{self.prefix}_{mode}.json')
        with open(path, 'w') as f:
            json.dump(dict(table, evaluators=evaluators, iteration=runner.iter), f,
                      indent=2)
        print_log(f'saved the table to {path}', logger='current')

    def after_val_epoch(self, runner, metrics=None) -> None:
        self._report(runner, metrics, 'val')

    def after_test_epoch(self, runner, metrics=None) -> None:
        self._report(runner, metrics, 'test')
