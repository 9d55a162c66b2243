from .optim_constructor import OneFormerOptimWrapperConstructor
from .task_metrics_table import (TaskMetricsTableHook, format_task_metrics, task_evaluators,
                                 task_metrics)

__all__ = [
    'OneFormerOptimWrapperConstructor', 'TaskMetricsTableHook', 'format_task_metrics',
    'task_evaluators', 'task_metrics'
]
