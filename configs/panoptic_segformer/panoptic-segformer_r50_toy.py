# Panoptic SegFormer R50 (released architecture) on the bundled toy dataset
# (tools/misc/make_toy_dataset.py): 3 thing + 4 stuff classes, 128x128
# images, no pretrained weights, 2 images per batch, iteration based. The
# data, PQ/AP/mIoU evaluators and metrics table come from the toy dataset
# config; only the OneFormer-specific transforms are swapped for mmdet's.
#   python tools/misc/make_toy_dataset.py data/toy
_base_ = [
    '../_base_/datasets/toy_panoptic.py', '../_base_/default_runtime.py',
    './_base_/panoptic-segformer_r50.py'
]

model = dict(
    num_queries=100,
    backbone=dict(init_cfg=None),
    bbox_head=dict(num_things_classes=3, num_stuff_classes=4))

# load, flip, resize, crop (test: load, resize, load annotations), then pack
# for mmdet instead of OneFormer's task sampling and packing
train_pipeline = _base_.train_pipeline[:5] + [dict(type='PackDetInputs')]
test_pipeline = _base_.test_pipeline[:3] + [
    dict(type='PackDetInputs', meta_keys=_base_.test_pipeline[3].meta_keys)
]
train_dataloader = dict(dataset=dict(pipeline=train_pipeline))
val_dataloader = dict(dataset=dict(pipeline=test_pipeline))
test_dataloader = val_dataloader

max_iters = 200
train_cfg = dict(
    type='IterBasedTrainLoop', max_iters=max_iters, val_interval=max_iters)
val_cfg = dict(type='ValLoop')
test_cfg = dict(type='TestLoop')
param_scheduler = [
    dict(type='MultiStepLR', begin=0, end=max_iters, by_epoch=False,
         milestones=[160], gamma=0.1)
]
default_hooks = dict(
    logger=dict(interval=10),
    checkpoint=dict(by_epoch=False, interval=max_iters))
log_processor = dict(window_size=10, by_epoch=False)
