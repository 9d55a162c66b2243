# OneFormer's released solver for Cityscapes: 90k iterations, poly decay.
_base_ = './oneformer_160k.py'

max_iters = 90000
param_scheduler = dict(end=max_iters)
train_cfg = dict(max_iters=max_iters)
