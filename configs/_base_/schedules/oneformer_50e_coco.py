# OneFormer's released solver for COCO, 50 epochs of 118k images at batch 16:
# 368,750 iterations, lr x0.1 at 327,778 and 355,092 (WarmupMultiStepLR: the yaml
# sets no scheduler name; its 10 warm-up iterations have factor 1.0, a no-op).
_base_ = './oneformer_160k.py'

max_iters = 368750
param_scheduler = dict(
    _delete_=True,
    type='MultiStepLR',
    begin=0,
    end=max_iters,
    by_epoch=False,
    milestones=[327778, 355092],
    gamma=0.1)
train_cfg = dict(max_iters=max_iters)
