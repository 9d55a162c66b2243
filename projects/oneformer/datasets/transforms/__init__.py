from .formatting import PackOneFormerInputs
from .loading import LoadStrictPanopticAnnotations
from .task_sampling import OneFormerTaskSampling

__all__ = [
    'LoadStrictPanopticAnnotations', 'OneFormerTaskSampling', 'PackOneFormerInputs'
]
