from .formatting import PackOneFormerInputs
from .loading import LoadSceneParsingSemSeg, LoadStrictPanopticAnnotations
from .task_sampling import OneFormerTaskSampling

__all__ = [
    'LoadSceneParsingSemSeg', 'LoadStrictPanopticAnnotations', 'OneFormerTaskSampling', 'PackOneFormerInputs'
]
