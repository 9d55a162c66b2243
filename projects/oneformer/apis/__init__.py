from .inference import image_test_pipeline, prediction_record, predict_tasks

__all__ = ['image_test_pipeline', 'prediction_record', 'predict_tasks']
