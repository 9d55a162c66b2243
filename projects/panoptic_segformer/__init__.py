"""Panoptic SegFormer (Li et al., CVPR 2022) on mmdet 3.x Deformable DETR.

Importing this package registers its modules in mmdet's registries (configs:
``custom_imports = dict(imports=['projects.panoptic_segformer'])``); it shares
only ``projects.common`` (stack fixes, run-time pieces, converter machinery)
with the OneFormer project.
"""
import projects.common  # noqa: F401  (first: see its docstring)
from .assigner import FilterHungarianAssigner
from .head import PanopticSegFormerHead
from .mask_decoder import PanopticSegFormerMaskDecoder
from .mask_wise_merging import mask_quality_scores, mask_wise_merge
from .panoptic_segformer import PanopticSegFormer

__all__ = [
    'FilterHungarianAssigner', 'PanopticSegFormer', 'PanopticSegFormerHead',
    'PanopticSegFormerMaskDecoder', 'mask_quality_scores', 'mask_wise_merge'
]
