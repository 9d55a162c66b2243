# OneFormer Swin-T on COCO panoptic: large scale jitter at 1024, 50 epochs, batch 16, 150 queries
# (released configs/coco/swin/oneformer_swin_tiny_bs16_50ep.yaml).
# One test run scores PQ, mask AP and mIoU.
_base_ = [
    '../_base_/schedules/oneformer_50e_coco.py', '../_base_/datasets/coco_panoptic.py',
    '../_base_/models/oneformer_swin-t.py'
]

model = dict(
    panoptic_head=dict(num_things_classes=80, num_stuff_classes=53, num_queries=150,
                       loss_cls=dict(class_weight=[1.0] * 133 + [0.1])),
    panoptic_fusion_head=dict(num_things_classes=80, num_stuff_classes=53),
    test_cfg=dict(object_mask_thr=0.8))
