# The mmdet-convention config oneformer/oneformer_swin-l_8xb2-90k_cityscapes-512x1024.py
_base_ = './oneformer/oneformer_swin-l_8xb2-90k_cityscapes-512x1024.py'
