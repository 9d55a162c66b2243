# Panoptic SegFormer R50, released 2x schedule (24 epochs, lr step at 18),
# 8 GPUs x 1 image. Released COCO val PQ: 49.6 (R50 1x: 48.0).
_base_ = [
    'mmdet::_base_/datasets/coco_panoptic.py',
    '../_base_/default_runtime.py', './_base_/panoptic-segformer_r50.py'
]

# DETR multi-scale training with random crop (released AutoAugment policy).
detr_scales = [(480, 1333), (512, 1333), (544, 1333), (576, 1333),
               (608, 1333), (640, 1333), (672, 1333), (704, 1333),
               (736, 1333), (768, 1333), (800, 1333)]
train_pipeline = [
    dict(type='LoadImageFromFile', backend_args={{_base_.backend_args}}),
    dict(
        type='LoadPanopticAnnotations',
        with_bbox=True,
        with_mask=True,
        with_seg=True,
        backend_args={{_base_.backend_args}}),
    dict(type='RandomFlip', prob=0.5),
    dict(
        type='RandomChoice',
        transforms=[[
            dict(type='RandomChoiceResize', scales=detr_scales,
                 keep_ratio=True)
        ],
                    [
                        dict(
                            type='RandomChoiceResize',
                            scales=[(400, 4200), (500, 4200), (600, 4200)],
                            keep_ratio=True),
                        dict(
                            type='RandomCrop',
                            crop_type='absolute_range',
                            crop_size=(384, 600),
                            recompute_bbox=True,
                            allow_negative_crop=True),
                        dict(
                            type='RandomChoiceResize',
                            scales=detr_scales,
                            keep_ratio=True)
                    ]]),
    dict(type='PackDetInputs')
]
train_dataloader = dict(
    batch_size=1,
    dataset=dict(
        filter_cfg=dict(filter_empty_gt=False), pipeline=train_pipeline))

# PQ, instance AP (thing masks) and mIoU (semantic map) in one test run.
val_evaluator = [
    dict(
        type='CocoPanopticMetric',
        ann_file='data/coco/annotations/panoptic_val2017.json',
        seg_prefix='data/coco/annotations/panoptic_val2017/',
        backend_args={{_base_.backend_args}}),
    dict(
        type='CocoMetric',
        ann_file='data/coco/annotations/instances_val2017.json',
        metric=['segm'],
        backend_args={{_base_.backend_args}}),
    dict(type='SemSegMetric', iou_metrics=['mIoU'], prefix='sem_seg')
]
test_evaluator = val_evaluator

max_epochs = 24
train_cfg = dict(
    type='EpochBasedTrainLoop', max_epochs=max_epochs, val_interval=1)
val_cfg = dict(type='ValLoop')
test_cfg = dict(type='TestLoop')
param_scheduler = [
    dict(
        type='MultiStepLR',
        begin=0,
        end=max_epochs,
        by_epoch=True,
        milestones=[18],
        gamma=0.1)
]
auto_scale_lr = dict(base_batch_size=8)
