# Mask2Former-Joint R50 on ADE20K panoptic (paper Table 7 baseline at R50): one model
# trained for 160k iterations at batch 16 (8 x 2) on 512x512 crops with task sampling
# per image (the OneFormer R50 data recipe of ../_base_/datasets/ade20k_panoptic.py),
# scored with PQ, mask AP and mIoU in one test run.
_base_ = [
    './_base_/mask2former-joint_r50.py',
    '../_base_/datasets/ade20k_panoptic.py',
]

num_things_classes = 100
num_stuff_classes = 50
num_classes = num_things_classes + num_stuff_classes
model = dict(
    panoptic_head=dict(
        num_things_classes=num_things_classes,
        num_stuff_classes=num_stuff_classes,
        loss_cls=dict(class_weight=[1.0] * num_classes + [0.1])),
    panoptic_fusion_head=dict(
        num_things_classes=num_things_classes,
        num_stuff_classes=num_stuff_classes))
