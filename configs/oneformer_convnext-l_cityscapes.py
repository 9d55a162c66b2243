# The mmdet-convention config oneformer/oneformer_convnext-l_8xb2-90k_cityscapes-512x1024.py
_base_ = './oneformer/oneformer_convnext-l_8xb2-90k_cityscapes-512x1024.py'
