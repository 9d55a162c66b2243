"""Post-processing of OneFormer predictions with the released rules."""
from typing import List, Sequence

import torch
import torch.nn.functional as F
from mmengine.config import ConfigDict
from mmengine.structures import PixelData
from torch import Tensor

from mmdet.models.seg_heads.panoptic_fusion_heads import MaskFormerFusionHead
from mmdet.registry import MODELS
from mmdet.structures import SampleList
from ..tasks import TASK_SPECS, check_tasks



def semantic_inference(mask_cls: Tensor, mask_pred: Tensor) -> Tensor:
    """Released semantic inference: per-class scores, the sum over queries of
    softmax(class)[:-1] x sigmoid(mask).

    Args:
        mask_cls (Tensor): Class logits [..., N, K+1].
        mask_pred (Tensor): Mask logits [..., N, H, W].

    Returns:
        Tensor: Scores [..., K, H, W].
    """
    return torch.einsum('...qk,...qhw->...khw',
                        F.softmax(mask_cls, dim=-1)[..., :-1],
                        mask_pred.sigmoid())


@MODELS.register_module()
class OneFormerFusionHead(MaskFormerFusionHead):
    """MaskFormer fusion head plus semantic inference and per-task outputs.

    ``test_cfg`` keys: ``object_mask_thr`` (panoptic query score threshold:
    0.5 for ADE20K, 0.8 elsewhere), ``iou_thr`` (panoptic overlap threshold,
    0.8), ``filter_low_score`` (True), ``max_per_image`` (instance top-k;
    the detector sets it to the number of queries N) and ``semantic_scores``
    (False; True keeps the per-class scores in ``pred_sem_seg.scores``, for
    test-time augmentation).
    """

    # Released inference rules. `filter_low_score` restricts each panoptic
    # segment to its own sigmoid >= 0.5 area, as the released panoptic
    # inference does.
    DEFAULT_TEST_CFG = dict(
        object_mask_thr=0.8, iou_thr=0.8, filter_low_score=True)

    def __init__(self, *args, test_cfg=None, **kwargs) -> None:
        super().__init__(*args, test_cfg=test_cfg, **kwargs)
        self.test_cfg = ConfigDict({**self.DEFAULT_TEST_CFG,
                                    **(test_cfg or {})})

    def semantic_postprocess(self, mask_cls: Tensor,
                             mask_pred: Tensor) -> PixelData:
        """Sum over queries of class probs x mask probs, then argmax.

        Args:
            mask_cls (Tensor): Class logits [N, K+1].
            mask_pred (Tensor): Mask logits [N, H, W].

        Returns:
            PixelData: ``sem_seg`` label map [1, H, W]; with
            ``test_cfg.semantic_scores`` also ``scores`` [K, H, W].
        """
        scores = semantic_inference(mask_cls, mask_pred)
        result = PixelData(sem_seg=scores.argmax(0)[None])
        if self.test_cfg.get('semantic_scores', False):
            result.scores = scores
        return result

    def crop_and_rescale(self, mask_pred: Tensor, meta: dict,
                         rescale: bool = True) -> Tensor:
        """Mask logits [N, h, w] -> upsampled to the padded input
        (``batch_input_shape``), cropped to the image and, with ``rescale``,
        resized to ``ori_shape``: the released order, done before any
        inference rule."""
        pad_shape = tuple(meta['batch_input_shape'][:2])
        if tuple(mask_pred.shape[-2:]) != pad_shape:
            mask_pred = F.interpolate(
                mask_pred[:, None], size=pad_shape, mode='bilinear',
                align_corners=False)[:, 0]
        img_h, img_w = meta['img_shape'][:2]
        mask_pred = mask_pred[:, :img_h, :img_w]
        # a same-size bilinear resize is the identity: skip the copy
        if rescale and tuple(meta['ori_shape'][:2]) != (img_h, img_w):
            mask_pred = F.interpolate(
                mask_pred[:, None],
                size=tuple(meta['ori_shape'][:2]),
                mode='bilinear',
                align_corners=False)[:, 0]
        return mask_pred

    def predict(self,
                mask_cls_results: Tensor,
                mask_pred_results: Tensor,
                batch_data_samples: SampleList,
                tasks: Sequence[str],
                rescale: bool = True) -> List[dict]:
        """Post-process one prediction per (image, task) pair.

        Args:
            mask_cls_results (Tensor): Class logits [P, N, K+1].
            mask_pred_results (Tensor): Mask logits [P, N, h, w], at stride
                4 or already at the padded input size.
            batch_data_samples (list): Data sample of each pair (P).
            tasks (Sequence[str]): Task of each pair (P).
            rescale (bool): Resize to ``ori_shape``. Defaults to True.

        Returns:
            list[dict]: One dict per pair with the single key matching its
            task: ``pan_results``, ``ins_results`` or ``sem_results``.
        """
        check_tasks(tasks)
        results = []
        for mask_cls, mask_pred, data_sample, task in zip(
                mask_cls_results, mask_pred_results, batch_data_samples,
                tasks):
            mask_pred = self.crop_and_rescale(mask_pred, data_sample.metainfo,
                                              rescale)
            postprocess = getattr(self, f'{task}_postprocess')
            results.append(
                {TASK_SPECS[task].result_key: postprocess(mask_cls, mask_pred)})
        return results
