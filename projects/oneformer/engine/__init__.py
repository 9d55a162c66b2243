from .optim_constructor import OneFormerOptimWrapperConstructor
from .progress_bar import TrainProgressBarHook
from .random_state_hook import RandomStateHook, get_random_state, set_random_state
from .task_metrics_table import (TaskMetricsTableHook, format_task_metrics, task_evaluators,
                                 task_metrics)

__all__ = [
    'OneFormerOptimWrapperConstructor', 'RandomStateHook', 'TaskMetricsTableHook',
    'TrainProgressBarHook', 'format_task_metrics', 'get_random_state', 'set_random_state',
    'task_evaluators', 'task_metrics'
]
