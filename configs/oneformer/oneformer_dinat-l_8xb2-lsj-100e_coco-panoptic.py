# OneFormer DiNAT-L on COCO panoptic: large scale jitter at 1024, 100 epochs, batch 16, 150 queries
# (released configs/coco/dinat/oneformer_dinat_large_bs16_100ep.yaml).
# One test run scores PQ, mask AP and mIoU.
_base_ = [
    '../_base_/schedules/oneformer_100e_coco.py', '../_base_/datasets/coco_panoptic.py',
    '../_base_/models/oneformer_dinat-l.py'
]

model = dict(
    panoptic_head=dict(num_things_classes=80, num_stuff_classes=53, num_queries=150,
                       loss_cls=dict(class_weight=[1.0] * 133 + [0.1])),
    panoptic_fusion_head=dict(num_things_classes=80, num_stuff_classes=53),
    test_cfg=dict(object_mask_thr=0.8))
# SOLVER.AMP.ENABLED is False in the released config
optim_wrapper = dict(type='OptimWrapper')
# DiNAT-L's second lr step (Swin-L's is 735,184)
param_scheduler = dict(milestones=[655556, 710184])
