from .progress_bar import TrainProgressBarHook
from .task_metrics_table import TaskMetricsTableHook, format_task_metrics, task_metrics

__all__ = [
    'TaskMetricsTableHook', 'TrainProgressBarHook', 'format_task_metrics',
    'task_metrics'
]
