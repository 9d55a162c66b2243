# The mmdet-convention config oneformer/oneformer_dinat-l_8xb2-160k_ade20k-1280x1280.py
_base_ = './oneformer/oneformer_dinat-l_8xb2-160k_ade20k-1280x1280.py'
