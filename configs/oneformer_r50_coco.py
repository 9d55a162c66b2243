# The mmdet-convention config oneformer/oneformer_r50_8xb2-lsj-50e_coco-panoptic.py
_base_ = './oneformer/oneformer_r50_8xb2-lsj-50e_coco-panoptic.py'
