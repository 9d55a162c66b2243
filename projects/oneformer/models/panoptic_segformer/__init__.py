"""Panoptic SegFormer (Li et al., CVPR 2022) on mmdet 3.x Deformable DETR."""
from .assigner import FilterHungarianAssigner
from .head import PanopticSegFormerHead
from .mask_decoder import PanopticSegFormerMaskDecoder
from .mask_wise_merging import mask_quality_scores, mask_wise_merge
from .panoptic_segformer import PanopticSegFormer

__all__ = [
    'FilterHungarianAssigner', 'PanopticSegFormer', 'PanopticSegFormerHead',
    'PanopticSegFormerMaskDecoder', 'mask_quality_scores', 'mask_wise_merge'
]
