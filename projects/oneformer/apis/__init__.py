from .inference import image_test_pipeline, prediction_record, predict_tasks
from .inferencer import OneFormerInferencer

__all__ = [
    'OneFormerInferencer', 'image_test_pipeline', 'prediction_record',
    'predict_tasks'
]
