# The mmdet-convention config oneformer/oneformer_dinat-l_8xb2-lsj-100e_coco-panoptic.py
_base_ = './oneformer/oneformer_dinat-l_8xb2-lsj-100e_coco-panoptic.py'
