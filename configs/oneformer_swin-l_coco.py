# The mmdet-convention config oneformer/oneformer_swin-l_8xb2-lsj-100e_coco-panoptic.py
_base_ = './oneformer/oneformer_swin-l_8xb2-lsj-100e_coco-panoptic.py'
