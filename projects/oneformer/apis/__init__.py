from .inference import image_test_pipeline, predict_tasks
from .inferencer import OneFormerInferencer

__all__ = ['OneFormerInferencer', 'image_test_pipeline', 'predict_tasks']
