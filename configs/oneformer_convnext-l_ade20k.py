# The mmdet-convention config oneformer/oneformer_convnext-l_8xb2-160k_ade20k-640x640.py
_base_ = './oneformer/oneformer_convnext-l_8xb2-160k_ade20k-640x640.py'
