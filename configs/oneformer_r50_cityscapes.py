# The mmdet-convention config oneformer/oneformer_r50_8xb2-90k_cityscapes-512x1024.py
_base_ = './oneformer/oneformer_r50_8xb2-90k_cityscapes-512x1024.py'
