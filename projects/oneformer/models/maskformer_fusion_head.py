"""Semantic output for mmdet's MaskFormer and Mask2Former.

mmdet's ``MaskFormerFusionHead.semantic_postprocess`` raises NotImplementedError and
``MaskFormer.add_pred_to_datasample`` refuses a ``'sem_results'`` entry. This fusion
head fills the gap without touching the detectors: with ``test_cfg.semantic_on`` it
computes the released semantic inference (``semantic_inference``, the formula OneFormer
uses) and writes it to each data sample's ``pred_sem_seg`` itself, so that
``type='MaskFormer'`` / ``type='Mask2Former'`` models give PQ, mask AP and mIoU in one
test run.
"""
from typing import List

import torch.nn.functional as F
from mmengine.structures import PixelData
from torch import Tensor

from mmdet.models.seg_heads.panoptic_fusion_heads import MaskFormerFusionHead
from mmdet.registry import MODELS
from mmdet.structures import SampleList
from .fusion_head import semantic_inference


@MODELS.register_module()
class SemanticMaskFormerFusionHead(MaskFormerFusionHead):
    """``MaskFormerFusionHead`` with semantic inference.

    ``test_cfg`` keys as mmdet's (``panoptic_on``, ``instance_on``, ``object_mask_thr``,
    ``iou_thr``, ``filter_low_score``, ``max_per_image``) plus a working
    ``semantic_on``. Panoptic and instance results are mmdet's, returned as
    ``pan_results`` / ``ins_results``; the semantic result is set directly as
    ``data_sample.pred_sem_seg`` (mmdet's detectors assert that no ``sem_results`` is
    returned), label map [1, H, W].
    """

    def semantic_postprocess(self, mask_cls: Tensor,
                             mask_pred: Tensor) -> PixelData:
        """Argmax over classes of the sum over queries of softmax(class) x
        sigmoid(mask).

        Args:
            mask_cls (Tensor): Class logits [N, K+1].
            mask_pred (Tensor): Mask logits [N, H, W].

        Returns:
            PixelData: ``sem_seg`` label map [1, H, W].
        """
        return PixelData(
            sem_seg=semantic_inference(mask_cls, mask_pred).argmax(0)[None])

    def predict(self,
                mask_cls_results: Tensor,
                mask_pred_results: Tensor,
                batch_data_samples: SampleList,
                rescale: bool = False,
                **kwargs) -> List[dict]:
        """mmdet's post-processing, plus ``pred_sem_seg`` when ``semantic_on``.

        Masks (at the padded input size) are cropped to the image and, with
        ``rescale``, resized to ``ori_shape`` once; every enabled task reads them.

        Returns:
            list[dict]: per image, ``pan_results`` and/or ``ins_results``.
        """
        tasks = [(task, key) for task, key, default in (
            ('panoptic', 'pan_results', True), ('instance', 'ins_results', False),
            ('semantic', 'sem_results', False))
                 if self.test_cfg.get(f'{task}_on', default)]
        results = []
        for mask_cls, mask_pred, sample in zip(mask_cls_results, mask_pred_results,
                                               batch_data_samples):
            img_h, img_w = sample.metainfo['img_shape'][:2]
            mask_pred = mask_pred[:, :img_h, :img_w]
            if rescale:
                mask_pred = F.interpolate(
                    mask_pred[:, None], size=tuple(sample.metainfo['ori_shape'][:2]),
                    mode='bilinear', align_corners=False)[:, 0]
            result = {key: getattr(self, f'{task}_postprocess')(mask_cls, mask_pred)
                      for task, key in tasks}
            if 'sem_results' in result:
                sample.pred_sem_seg = result.pop('sem_results')
            results.append(result)
        return results
