# OneFormer R50 on Cityscapes panoptic (fine): 512x1024 crops, 90k iterations, batch 16, 150 queries
# (released configs/cityscapes/oneformer_R50_bs16_90k.yaml).
# One test run scores PQ, mask AP and mIoU.
_base_ = [
    '../_base_/schedules/oneformer_90k.py', '../_base_/datasets/cityscapes_panoptic.py',
    '../_base_/models/oneformer_r50.py'
]

model = dict(
    # SyncBN, trained, on Cityscapes (FrozenBN on ADE20K and COCO)
    backbone=dict(norm_cfg=dict(type='SyncBN', requires_grad=True), norm_eval=False),
    panoptic_head=dict(num_things_classes=8, num_stuff_classes=11, num_queries=150,
                       loss_cls=dict(class_weight=[1.0] * 19 + [0.1])),
    panoptic_fusion_head=dict(num_things_classes=8, num_stuff_classes=11),
    test_cfg=dict(object_mask_thr=0.8))
