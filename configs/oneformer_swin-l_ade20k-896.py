# The mmdet-convention config oneformer/oneformer_swin-l_8xb2-160k_ade20k-896x896.py
_base_ = './oneformer/oneformer_swin-l_8xb2-160k_ade20k-896x896.py'
