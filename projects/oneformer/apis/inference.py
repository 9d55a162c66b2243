"""Run a OneFormer on images for chosen tasks (no annotations needed)."""
from typing import List, Optional, Sequence, Union

import numpy as np
from mmcv.transforms import Compose, LoadAnnotations
from mmdet.apis import inference_detector
from mmdet.registry import TRANSFORMS
from mmdet.structures import DetDataSample
from mmdet.utils import get_test_pipeline_cfg
from torch import nn

from ..tasks import TASKS, check_tasks


def _loads_ground_truth(step: dict) -> bool:
    """Whether a pipeline step is a ground-truth loader: an mmcv
    ``LoadAnnotations`` (mmdet's, mmseg's and the plugin's all are)."""
    step_type = step['type']
    if isinstance(step_type, str):
        step_type = TRANSFORMS.get(step_type)
        if step_type is None:
            raise KeyError(f"pipeline step {step['type']!r} is not a "
                           'registered transform')
    return isinstance(step_type, type) and issubclass(step_type,
                                                      LoadAnnotations)


def image_test_pipeline(cfg, from_array: bool = False,
                        loader: Optional[str] = None) -> Compose:
    """The config's test pipeline without its ground-truth loaders; its image
    loader replaced by ``loader`` (a transform type) if given, else, with
    ``from_array``, by mmdet's ``LoadImageFromNDArray``."""
    steps = [t for t in get_test_pipeline_cfg(cfg.copy())
             if not _loads_ground_truth(t)]
    if from_array:
        loader = loader or 'mmdet.LoadImageFromNDArray'
    if loader is not None:
        steps[0] = dict(steps[0], type=loader)
    return Compose(steps)


def predict_tasks(model: nn.Module, images: Union[str, np.ndarray, Sequence],
                  tasks: Union[str, Sequence[str]]) -> List[DetDataSample]:
    """Predict every task in ``tasks`` (a task name or a non-empty sequence of
    them) for each image in one pass per image.

    The backbone and pixel decoder run once per image; the decoder runs once per
    task (the model's ``test_cfg.tasks``). Returns one data sample per image with
    ``pred_panoptic_seg`` / ``pred_instances`` / ``pred_sem_seg`` as requested.
    """
    if isinstance(tasks, str):
        tasks = [tasks]
    if not tasks:
        raise ValueError('predict_tasks: tasks is empty; pass one or more of '
                         f"{', '.join(repr(t) for t in TASKS)}")
    check_tasks(tasks)
    single = not isinstance(images, (list, tuple))
    images = [images] if single else list(images)
    if not images:
        raise ValueError('predict_tasks: images is an empty list; pass an image '
                         'path, an array or a non-empty list of them')
    pipeline = image_test_pipeline(model.cfg, isinstance(images[0], np.ndarray))
    previous = model.test_cfg.get('tasks')
    model.test_cfg['tasks'] = list(tasks)
    try:
        results = inference_detector(model, images, test_pipeline=pipeline)
    finally:
        model.test_cfg['tasks'] = previous
    return results[0] if single else results


def prediction_record(img_path: str, sample: DetDataSample) -> dict:
    """The ``pred_*`` fields of a prediction as numpy arrays, with the image
    path: what ``tools/demo.py --out`` and ``onnx_infer.py --out`` save."""
    return dict(img_path=img_path, **{
        k: v for k, v in sample.cpu().numpy().to_dict().items()
        if k.startswith('pred_')})
