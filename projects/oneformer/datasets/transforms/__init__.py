from .formatting import PackOneFormerInputs
from .loading import (LoadSceneParsingSemSeg, LoadStrictPanopticAnnotations,
                      LoadStrictSemSegAnnotations)
from .task_sampling import OneFormerTaskSampling

__all__ = [
    'LoadSceneParsingSemSeg', 'LoadStrictPanopticAnnotations', 'LoadStrictSemSegAnnotations',
    'OneFormerTaskSampling', 'PackOneFormerInputs'
]
