from .inference import image_test_pipeline, predict_tasks

__all__ = ['image_test_pipeline', 'predict_tasks']
