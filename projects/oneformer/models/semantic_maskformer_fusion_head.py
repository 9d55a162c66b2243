"""Semantic output for mmdet's MaskFormer and Mask2Former.

mmdet's ``MaskFormerFusionHead.semantic_postprocess`` raises NotImplementedError and
``MaskFormer.add_pred_to_datasample`` refuses a ``'sem_results'`` entry. This fusion
head fills the gap without touching the detectors: with ``test_cfg.semantic_on`` it
computes the released semantic inference (OneFormer's rule) and writes it to each data
sample's ``pred_sem_seg`` itself, so that ``type='MaskFormer'`` / ``type='Mask2Former'``
models give PQ, mask AP and mIoU in one test run.
"""
from typing import List

from torch import Tensor

from mmdet.registry import MODELS
from mmdet.structures import SampleList
from ..tasks import TASK_SPECS, TASKS
from .fusion_head import OneFormerFusionHead


@MODELS.register_module()
class SemanticMaskFormerFusionHead(OneFormerFusionHead):
    """mmdet's ``MaskFormerFusionHead`` with semantic inference, for the
    baselines: every task enabled in ``test_cfg`` on every image.

    ``test_cfg`` keys as mmdet's (``panoptic_on`` (default True),
    ``instance_on``, ``object_mask_thr``, ``iou_thr``, ``filter_low_score``,
    ``max_per_image``) plus a working ``semantic_on``. Panoptic and instance
    results are mmdet's, returned as ``pan_results`` / ``ins_results``; the
    semantic result is set directly as ``data_sample.pred_sem_seg`` (mmdet's
    detectors assert that no ``sem_results`` is returned), label map [1, H, W].
    """
    DEFAULT_TEST_CFG = {}  # mmdet's defaults, as the baselines' configs expect

    @property
    def enabled_tasks(self) -> List[str]:
        """The tasks ``test_cfg`` turns on, in ``TASKS`` order."""
        return [task for task in TASKS
                if self.test_cfg.get(f'{task}_on', task == 'panoptic')]

    def predict(self,
                mask_cls_results: Tensor,
                mask_pred_results: Tensor,
                batch_data_samples: SampleList,
                rescale: bool = False,
                **kwargs) -> List[dict]:
        """mmdet's post-processing, plus ``pred_sem_seg`` when ``semantic_on``.

        Masks (at the padded input size) are cropped and rescaled once per
        image (``OneFormerFusionHead.crop_and_rescale``); every enabled task
        reads them.

        Returns:
            list[dict]: per image, ``pan_results`` and/or ``ins_results``.
        """
        tasks = self.enabled_tasks
        results = []
        for mask_cls, mask_pred, sample in zip(mask_cls_results,
                                               mask_pred_results,
                                               batch_data_samples):
            mask_pred = self.crop_and_rescale(mask_pred, sample.metainfo,
                                              rescale)
            result = {
                TASK_SPECS[task].result_key:
                getattr(self, f'{task}_postprocess')(mask_cls, mask_pred)
                for task in tasks
            }
            if 'sem_results' in result:
                sample.pred_sem_seg = result.pop('sem_results')
            results.append(result)
        return results
