# The bundled toy dataset (tools/misc/make_toy_dataset.py) in COCO-panoptic format,
# with OneFormer's task-conditioned training pipeline: 3 thing and 4 stuff classes,
# 128x128 images. Generate it with
#   python tools/misc/make_toy_dataset.py data/toy
dataset_type = 'OneFormerPanopticDataset'
data_root = 'data/toy/'
backend_args = None
image_size = (128, 128)
metainfo = dict(
    classes=('circle', 'square', 'triangle', 'sky', 'wall', 'grass', 'sand'),
    thing_classes=('circle', 'square', 'triangle'),
    stuff_classes=('sky', 'wall', 'grass', 'sand'),
    palette=[(220, 40, 40), (40, 200, 60), (50, 80, 230), (150, 200, 250),
             (150, 130, 110), (70, 140, 50), (220, 200, 140)])

# Text list length N_text = model num_queries - text_mapper.num_context.
num_texts = 16

train_pipeline = [
    dict(type='LoadImageFromFile', to_float32=True, backend_args=backend_args),
    dict(type='LoadStrictPanopticAnnotations', with_bbox=True, with_mask=True,
         with_seg=True, backend_args=backend_args),
    dict(type='RandomFlip', prob=0.5),
    dict(type='RandomResize', scale=image_size, ratio_range=(0.8, 1.25),
         keep_ratio=True),
    dict(type='RandomCrop', crop_size=image_size, crop_type='absolute',
         recompute_bbox=True, allow_negative_crop=True),
    # task per image (released thresholds), its targets and text list
    dict(type='OneFormerTaskSampling'),
    dict(type='PackOneFormerInputs'),
]
test_pipeline = [
    dict(type='LoadImageFromFile', to_float32=True, backend_args=backend_args),
    dict(type='Resize', scale=image_size, keep_ratio=True),
    dict(type='LoadStrictPanopticAnnotations', backend_args=backend_args),
    dict(type='PackOneFormerInputs',
         meta_keys=('img_id', 'img_path', 'ori_shape', 'img_shape',
                    'scale_factor')),
]
# Semantic test-time augmentation (tools/test.py --tta; mmdet's test.py --tta on a
# semantic-only test config): the released scale ratios (x0.5 to x1.75 of the test
# size, longer side at most x7) x horizontal flip; OneFormerTTAModel averages the
# per-class scores of the 12 views.
tta_model = dict(type='OneFormerTTAModel')
tta_pipeline = [
    dict(type='LoadImageFromFile', to_float32=True, backend_args=backend_args),
    dict(type='TestTimeAug', transforms=[
        [dict(type='ResizeShortestEdge', scale=s, max_size=7 * image_size[0])
         for s in (64, 96, 128, 160, 192, 224)],
        [dict(type='RandomFlip', prob=0.0), dict(type='RandomFlip', prob=1.0)],
        [dict(type='LoadStrictPanopticAnnotations', backend_args=backend_args)],
        [dict(type='PackOneFormerInputs',
              meta_keys=('img_id', 'img_path', 'ori_shape', 'img_shape',
                         'scale_factor', 'flip', 'flip_direction'))],
    ]),
]
train_dataloader = dict(
    batch_size=2,
    num_workers=0,
    persistent_workers=False,
    sampler=dict(type='InfiniteSampler', shuffle=True),
    batch_sampler=None,
    dataset=dict(
        type=dataset_type,
        name='toy',
        data_root=data_root,
        metainfo=metainfo,
        ann_file='annotations/panoptic_train.json',
        data_prefix=dict(img='train/', seg='annotations/panoptic_train/'),
        filter_cfg=dict(filter_empty_gt=True, min_size=0),
        # the text list length of the model (N_text), for OneFormerTaskSampling
        num_texts=num_texts,
        pipeline=train_pipeline,
        backend_args=backend_args))
val_dataloader = dict(
    batch_size=1,
    num_workers=0,
    persistent_workers=False,
    drop_last=False,
    sampler=dict(type='DefaultSampler', shuffle=False),
    dataset=dict(
        type=dataset_type,
        name='toy',
        data_root=data_root,
        metainfo=metainfo,
        ann_file='annotations/panoptic_val.json',
        data_prefix=dict(img='val/', seg='annotations/panoptic_val/'),
        test_mode=True,
        pipeline=test_pipeline,
        backend_args=backend_args))
test_dataloader = val_dataloader
val_evaluator = [
    dict(type='CocoPanopticMetric',
         ann_file=data_root + 'annotations/panoptic_val.json',
         seg_prefix=data_root + 'annotations/panoptic_val/',
         backend_args=backend_args),
    dict(type='CocoMetric',
         ann_file=data_root + 'annotations/instances_val.json',
         metric=['segm'],
         backend_args=backend_args),
    dict(type='SemSegMetric', iou_metrics=['mIoU'], prefix='sem_seg'),
]
# PQ, AP and mIoU of one evaluation run as one table (+ JSON in the work dir)
custom_hooks = [dict(type='TaskMetricsTableHook')]
test_evaluator = val_evaluator
