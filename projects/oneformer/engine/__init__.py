from .class_count_check import PanopticClassCountCheckHook, class_count_problems
from .optim_constructor import OneFormerOptimWrapperConstructor
from .per_dataset_evaluator import DatasetMetric, PerDatasetEvaluator
from .task_metrics_table import (TaskMetricsTableHook, format_task_metrics, metric_datasets,
                                 task_evaluators, task_metrics)

__all__ = [
    'PanopticClassCountCheckHook', 'class_count_problems',
    'OneFormerOptimWrapperConstructor', 'TaskMetricsTableHook', 'format_task_metrics',
    'task_evaluators', 'task_metrics', 'metric_datasets', 'PerDatasetEvaluator',
    'DatasetMetric'
]
