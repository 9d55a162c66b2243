# OneFormer Swin-L on ADE20K panoptic: 896x896 crops, 160k iterations, batch 16, 250 queries
# (released configs/ade20k/swin/oneformer_swin_large_bs16_160k_896x896.yaml).
# One test run scores PQ, mask AP and mIoU.
_base_ = [
    '../_base_/schedules/oneformer_160k.py', '../_base_/datasets/ade20k_panoptic_896x896.py',
    '../_base_/models/oneformer_swin-l.py'
]

model = dict(
    # ImageNet-22k Swin-L (not 22k->1k) for 896, as released
    backbone=dict(init_cfg=dict(checkpoint='https://github.com/SwinTransformer/storage/'
                                'releases/download/v1.0.0/swin_large_patch4_window12_384_22k.pth')),
    panoptic_head=dict(num_things_classes=100, num_stuff_classes=50, num_queries=250,
                       loss_cls=dict(class_weight=[1.0] * 150 + [0.1])),
    panoptic_fusion_head=dict(num_things_classes=100, num_stuff_classes=50),
    test_cfg=dict(object_mask_thr=0.5))
