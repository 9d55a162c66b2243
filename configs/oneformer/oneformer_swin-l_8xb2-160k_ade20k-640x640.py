# OneFormer Swin-L on ADE20K panoptic: 640x640 crops, 160k iterations, batch 16, 250 queries
# (released configs/ade20k/swin/oneformer_swin_large_bs16_160k.yaml).
# One test run scores PQ, mask AP and mIoU.
_base_ = [
    '../_base_/schedules/oneformer_160k.py', '../_base_/datasets/ade20k_panoptic_640x640.py',
    '../_base_/models/oneformer_swin-l.py'
]

model = dict(
    panoptic_head=dict(num_things_classes=100, num_stuff_classes=50, num_queries=250,
                       loss_cls=dict(class_weight=[1.0] * 150 + [0.1])),
    panoptic_fusion_head=dict(num_things_classes=100, num_stuff_classes=50),
    test_cfg=dict(object_mask_thr=0.5))
