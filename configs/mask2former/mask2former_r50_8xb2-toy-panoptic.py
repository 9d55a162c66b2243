# mmdet's own Mask2Former R50 COCO-panoptic config, shrunk to the bundled toy dataset
# (tools/misc/make_toy_dataset.py): 7 classes, 128x128 crops, no pretrained weights.
# Used to prove the stack (training, distributed launch, evaluation) end to end.
_base_ = ['mmdet::mask2former/mask2former_r50_8xb2-lsj-50e_coco-panoptic.py']

data_root = 'data/toy/'
image_size = (128, 128)
num_things_classes = 3
num_stuff_classes = 4
metainfo = dict(
    classes=('circle', 'square', 'triangle', 'sky', 'wall', 'grass', 'sand'),
    thing_classes=('circle', 'square', 'triangle'),
    stuff_classes=('sky', 'wall', 'grass', 'sand'))

model = dict(
    data_preprocessor=dict(batch_augments=[
        dict(type='BatchFixedSizePad', size=image_size, img_pad_value=0,
             pad_mask=True, mask_pad_value=0, pad_seg=True, seg_pad_value=255)
    ]),
    backbone=dict(init_cfg=None),
    panoptic_head=dict(
        num_things_classes=num_things_classes,
        num_stuff_classes=num_stuff_classes,
        loss_cls=dict(class_weight=[1.0] * 7 + [0.1])),
    panoptic_fusion_head=dict(
        num_things_classes=num_things_classes,
        num_stuff_classes=num_stuff_classes),
    train_cfg=dict(num_points=1024))

train_pipeline = [
    dict(type='LoadImageFromFile', to_float32=True),
    dict(type='LoadPanopticAnnotations', with_bbox=True, with_mask=True,
         with_seg=True),
    dict(type='RandomFlip', prob=0.5),
    dict(type='RandomResize', scale=image_size, ratio_range=(0.8, 1.25),
         keep_ratio=True),
    dict(type='RandomCrop', crop_size=image_size, crop_type='absolute',
         recompute_bbox=True, allow_negative_crop=True),
    dict(type='PackDetInputs'),
]
test_pipeline = [
    dict(type='LoadImageFromFile', to_float32=True),
    dict(type='Resize', scale=image_size, keep_ratio=True),
    dict(type='LoadPanopticAnnotations'),
    dict(type='PackDetInputs',
         meta_keys=('img_id', 'img_path', 'ori_shape', 'img_shape',
                    'scale_factor')),
]
train_dataloader = dict(
    num_workers=0,
    persistent_workers=False,
    dataset=dict(
        data_root=data_root,
        metainfo=metainfo,
        ann_file='annotations/panoptic_train.json',
        data_prefix=dict(img='train/', seg='annotations/panoptic_train/'),
        pipeline=train_pipeline))
val_dataloader = dict(
    num_workers=0,
    persistent_workers=False,
    dataset=dict(
        data_root=data_root,
        metainfo=metainfo,
        ann_file='annotations/panoptic_val.json',
        data_prefix=dict(img='val/', seg='annotations/panoptic_val/'),
        pipeline=test_pipeline))
test_dataloader = val_dataloader
val_evaluator = [
    dict(type='CocoPanopticMetric',
         ann_file=data_root + 'annotations/panoptic_val.json',
         seg_prefix=data_root + 'annotations/panoptic_val/'),
    dict(type='CocoMetric',
         ann_file=data_root + 'annotations/instances_val.json',
         metric=['segm']),
]
test_evaluator = val_evaluator

max_iters = 200
param_scheduler = dict(end=max_iters, milestones=[160, 190])
train_cfg = dict(max_iters=max_iters, val_interval=max_iters,
                 dynamic_intervals=None)
# the project's runtime additions (../_base_/default_runtime.py): random states in
# checkpoints, atomic checkpoint writes, a seed per rank
default_hooks = dict(
    logger=dict(interval=10),
    checkpoint=dict(interval=max_iters,
                    backend_args=dict(backend='local_atomic')),
    random_state=dict(type='RandomStateHook'))
randomness = dict(seed=None, diff_rank_seed=True)
log_processor = dict(window_size=10)
