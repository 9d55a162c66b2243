# Mask2Former-Joint R50 on Cityscapes panoptic: one model trained for 90k iterations
# at batch 16 (8 x 2) on 512x1024 crops with task sampling per image (the OneFormer
# data recipe of ../_base_/datasets/cityscapes_panoptic.py), scored with PQ, mask AP
# and mIoU in one test run.
_base_ = [
    './_base_/mask2former-joint_r50.py',
    '../_base_/datasets/cityscapes_panoptic.py',
]

num_things_classes = 8
num_stuff_classes = 11
num_classes = num_things_classes + num_stuff_classes
model = dict(
    # Cityscapes trains the R50 BN layers (SyncBN; plain BN on one GPU)
    backbone=dict(norm_cfg=dict(type='SyncBN', requires_grad=True),
                  norm_eval=False),
    panoptic_head=dict(
        num_things_classes=num_things_classes,
        num_stuff_classes=num_stuff_classes,
        loss_cls=dict(class_weight=[1.0] * num_classes + [0.1])),
    panoptic_fusion_head=dict(
        num_things_classes=num_things_classes,
        num_stuff_classes=num_stuff_classes))

max_iters = 90000
param_scheduler = dict(end=max_iters)
train_cfg = dict(max_iters=max_iters)
