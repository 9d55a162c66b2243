"""Mask-wise merging (Panoptic SegFormer, paper Algorithm 1, released rules).

Things and stuff are treated alike: every candidate mask is re-scored by its
own mask quality, candidates are painted in descending score order, and a
candidate that mostly overlaps what is already painted is dropped. The
released code adds to Algorithm 1:

* score = class score x (mean soft-mask value inside the binary mask)^2;
* separate score thresholds for things and stuff (both 0.25 in the R50
  configs, 0.3 in Swin-L), while the paper uses one thr_cls = 0.3;
* a segment is dropped if (overlap with painted pixels) / (its area) exceeds
  0.4 for things or 0.2 for stuff (Algorithm 1 only removes the overlap);
  a kept segment paints only the free pixels.
"""
from typing import Sequence, Tuple

import torch
from mmdet.evaluation.functional import INSTANCE_OFFSET
from torch import Tensor


def mask_quality_scores(scores: Tensor, masks: Tensor,
                        mask_thr: float = 0.5) -> Tuple[Tensor, Tensor]:
    """Re-score candidates by their mask quality.

    Args:
        scores (Tensor): (N, ) class confidences.
        masks (Tensor): (N, H, W) soft masks (non-negative, ~[0, 1]).
        mask_thr (float): binarisation threshold.

    Returns:
        tuple[Tensor, Tensor]: (N, ) scores x (mean mask value inside the
        binary mask)^2, and the (N, H, W) bool binary masks. The mean
        divides by area + 1, as released, so that empty masks score 0.
    """
    binary = masks > mask_thr
    inside = (masks * binary).flatten(1).sum(1)
    mask_score = inside / (binary.flatten(1).sum(1) + 1)
    return scores * mask_score**2, binary


def mask_wise_merge(labels: Tensor,
                    scores: Tensor,
                    binary_masks: Tensor,
                    is_thing: Tensor,
                    num_classes: int,
                    score_thrs: Sequence[float] = (0.25, 0.25),
                    overlap_thrs: Sequence[float] = (0.4, 0.2)) -> Tensor:
    """Paint non-overlapping segments in descending score order.

    Args:
        labels (Tensor): (N, ) contiguous class ids (things first).
        scores (Tensor): (N, ) final (mask-quality) scores.
        binary_masks (Tensor): (N, H, W) bool.
        is_thing (Tensor): (N, ) bool, True for thing candidates.
        num_classes (int): things + stuff; the void value of the output.
        score_thrs (tuple): (things, stuff) minimum score.
        overlap_thrs (tuple): (things, stuff) maximum fraction of a
            segment's area that may already be painted.

    Returns:
        Tensor: (H, W) long panoptic map in mmdet's encoding: void pixels
        are ``num_classes``, stuff pixels their label, thing pixels
        ``label + k * INSTANCE_OFFSET`` with k = 1, 2, ... in painting order.
    """
    pan = binary_masks.new_full(binary_masks.shape[-2:], num_classes,
                                dtype=torch.long)
    painted = torch.zeros_like(pan, dtype=torch.bool)
    instance_id = 1
    for i in torch.argsort(scores, descending=True).tolist():
        kind = 0 if bool(is_thing[i]) else 1
        if scores[i] < score_thrs[kind]:
            continue
        mask = binary_masks[i]
        area = int(mask.sum())
        if area == 0:
            continue
        overlap = int((mask & painted).sum())
        if overlap / area > overlap_thrs[kind]:
            continue
        mask = mask & ~painted
        value = int(labels[i])
        if kind == 0:
            value += instance_id * INSTANCE_OFFSET
            instance_id += 1
        pan[mask] = value
        painted |= mask
    return pan
