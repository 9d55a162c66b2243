from .optim_constructor import OneFormerOptimWrapperConstructor
from .progress_bar import TrainProgressBarHook
from .task_metrics_table import (TaskMetricsTableHook, format_task_metrics, task_evaluators,
                                 task_metrics)

__all__ = [
    'OneFormerOptimWrapperConstructor', 'TaskMetricsTableHook', 'TrainProgressBarHook', 'format_task_metrics',
    'task_evaluators', 'task_metrics'
]
