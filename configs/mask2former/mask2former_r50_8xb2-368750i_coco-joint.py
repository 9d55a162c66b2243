# Mask2Former-Joint R50 on COCO panoptic: one model trained for 368,750 iterations
# (50 epochs) at batch 16 (8 x 2) with large-scale jittering and task sampling per
# image (the OneFormer data recipe of ../_base_/datasets/coco_panoptic.py), scored
# with PQ, mask AP (instances derived from the panoptic annotation) and mIoU in one
# test run. Class counts: the model base's (80 things, 53 stuff).
_base_ = [
    './_base_/mask2former-joint_r50.py',
    '../_base_/datasets/coco_panoptic.py',
]

max_iters = 368750
param_scheduler = dict(end=max_iters)
train_cfg = dict(max_iters=max_iters)
