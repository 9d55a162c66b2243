# The mmdet-convention config oneformer/oneformer_swin-t_8xb2-160k_ade20k-512x512.py
_base_ = './oneformer/oneformer_swin-t_8xb2-160k_ade20k-512x512.py'
