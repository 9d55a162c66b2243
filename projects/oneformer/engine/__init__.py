from .class_count_check import PanopticClassCountCheckHook, class_count_problems
from .optim_constructor import OneFormerOptimWrapperConstructor
from .task_metrics_table import (TaskMetricsTableHook, format_task_metrics, task_evaluators,
                                 task_metrics)

__all__ = [
    'PanopticClassCountCheckHook', 'class_count_problems',
    'OneFormerOptimWrapperConstructor', 'TaskMetricsTableHook', 'format_task_metrics',
    'task_evaluators', 'task_metrics'
]
