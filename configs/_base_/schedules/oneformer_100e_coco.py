# OneFormer's released solver for COCO, 100 epochs: 737,500 iterations, lr x0.1 at
# 655,556 and 735,184 (Swin-L's yaml; DiNAT-L's second step is 710,184).
_base_ = './oneformer_50e_coco.py'

max_iters = 737500
param_scheduler = dict(end=max_iters, milestones=[655556, 735184])
train_cfg = dict(max_iters=max_iters)
