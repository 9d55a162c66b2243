# COCO panoptic (133 classes: 80 things, 53 stuff) with OneFormer's released large
# scale jittering (SHI-Labs/OneFormer configs/coco/Base-COCO-UnifiedSegmentation.yaml,
# INPUT; oneformer/data/dataset_mappers/coco_unified_new_baseline_dataset_mapper.py,
# DATASET_MAPPER_NAME "coco_unified_lsj") and one test run that scores PQ, mask AP
# (on instances derived from the panoptic annotation) and mIoU.
# Data: mmdet's COCO panoptic layout, then
#   python tools/dataset_converters/coco_panoptic_derive.py data/coco
dataset_type = 'OneFormerPanopticDataset'  # classes: mmdet's COCO panoptic METAINFO
data_root = 'data/coco/'
backend_args = None

image_size = (1024, 1024)  # INPUT.IMAGE_SIZE
# N_text = num_queries - 16 learnable text contexts: every released COCO model has
# 150 queries, so 134.
num_texts = 134

train_pipeline = [
    dict(type='LoadImageFromFile', backend_args=backend_args),
    dict(type='LoadStrictPanopticAnnotations', with_bbox=True, with_mask=True,
         with_seg=True, backend_args=backend_args),
    # flip first, as released
    dict(type='RandomFlip', prob=0.5, direction='horizontal'),
    # ResizeScale(MIN_SCALE 0.1, MAX_SCALE 2.0, target 1024 x 1024): fit the image into
    # a square of 1024 x U(0.1, 2.0)
    dict(type='RandomResize', scale=image_size, ratio_range=(0.1, 2.0),
         resize_type='Resize', keep_ratio=True),
    # FixedSizeCrop(1024 x 1024) = a random crop to at most 1024 x 1024 ...
    dict(type='RandomCrop', crop_size=image_size, crop_type='absolute',
         recompute_bbox=True, allow_negative_crop=True),
    # ... then a pad to 1024 x 1024, bottom/right, with its pad_value 128 before
    # normalisation. mmdet's Mask2Former LSJ config pads in the data preprocessor
    # instead (BatchFixedSizePad: 0 after normalisation, i.e. the mean colour); padding
    # here keeps the released value, and a BatchFixedSizePad to 1024 becomes a no-op.
    dict(type='Pad', size=image_size, pad_val=dict(img=128, seg=255, masks=0)),
    # task per image (released thresholds), its targets and its text list
    dict(type='OneFormerTaskSampling'),
    dict(type='PackOneFormerInputs'),
]
test_pipeline = [
    dict(type='LoadImageFromFile', backend_args=backend_args),
    # detectron2's default test resize: MIN_SIZE_TEST 800, MAX_SIZE_TEST 1333
    dict(type='ResizeShortestEdge', scale=800, max_size=1333),
    # after the resize: the semantic ground truth (SemSegMetric) stays at the original
    # size; PQ and AP read the json files
    dict(type='LoadStrictPanopticAnnotations', with_bbox=False, with_label=False,
         with_mask=False, with_seg=True, backend_args=backend_args),
    dict(type='PackOneFormerInputs',
         meta_keys=('img_id', 'img_path', 'ori_shape', 'img_shape',
                    'scale_factor')),
]

# Semantic test-time augmentation (tools/test.py --tta), as released: MIN_SIZES x
# {no flip, horizontal flip}, longer side at most MAX_SIZE; OneFormerTTAModel averages
# the per-class scores of the views. The release sets none for COCO, so these are
# detectron2's defaults, which its TTA then uses.
tta_model = dict(type='OneFormerTTAModel')
tta_pipeline = [
    dict(type='LoadImageFromFile', backend_args=backend_args),
    dict(type='TestTimeAug', transforms=[
        [dict(type='ResizeShortestEdge', scale=s, max_size=4000)
         for s in [400, 500, 600, 700, 800, 900, 1000, 1100, 1200]],
        [dict(type='RandomFlip', prob=0.0), dict(type='RandomFlip', prob=1.0)],
        [dict(type='LoadStrictPanopticAnnotations', with_bbox=False, with_label=False,
              with_mask=False, with_seg=True, backend_args=backend_args)],
        [dict(type='PackOneFormerInputs',
              meta_keys=('img_id', 'img_path', 'ori_shape', 'img_shape',
                         'scale_factor', 'flip', 'flip_direction'))],
    ]),
]
train_dataloader = dict(
    batch_size=2,  # x 8 GPUs = the released IMS_PER_BATCH 16
    num_workers=4,
    persistent_workers=True,
    sampler=dict(type='InfiniteSampler', shuffle=True),
    batch_sampler=None,  # every sample has the crop size
    dataset=dict(
        type=dataset_type,
        data_root=data_root,
        ann_file='annotations/panoptic_train2017.json',
        data_prefix=dict(img='train2017/', seg='annotations/panoptic_train2017/'),
        # detectron2 filters no panoptic dataset: stuff-only images train too
        filter_cfg=dict(filter_empty_gt=False),
        # the text list length of the model (N_text), for OneFormerTaskSampling
        num_texts=num_texts,
        pipeline=train_pipeline,
        backend_args=backend_args))
val_dataloader = dict(
    batch_size=1,
    num_workers=2,
    persistent_workers=True,
    drop_last=False,
    sampler=dict(type='DefaultSampler', shuffle=False),
    dataset=dict(
        type=dataset_type,
        data_root=data_root,
        ann_file='annotations/panoptic_val2017.json',
        data_prefix=dict(img='val2017/', seg='annotations/panoptic_val2017/'),
        test_mode=True,
        pipeline=test_pipeline,
        backend_args=backend_args))
test_dataloader = val_dataloader

# One run, three tasks (model test_cfg.tasks = ['panoptic', 'instance', 'semantic']).
val_evaluator = [
    dict(type='CocoPanopticMetric',
         ann_file=data_root + 'annotations/panoptic_val2017.json',
         seg_prefix=data_root + 'annotations/panoptic_val2017/',
         backend_args=backend_args),
    # released: coco_2017_val_panoptic2instance, the same derivation
    dict(type='CocoMetric',
         ann_file=data_root + 'annotations/panoptic2instances_val2017.json',
         metric=['segm'],
         backend_args=backend_args),
    # semantic ground truth derived from the panoptic PNG, crowd pixels keeping their
    # class (= the released panoptic_semseg_val2017 maps)
    dict(type='SemSegMetric', iou_metrics=['mIoU'], prefix='sem_seg'),
]
test_evaluator = val_evaluator
# PQ, AP and mIoU of one evaluation run as one table (+ JSON in the work dir)
custom_hooks = [dict(type='TaskMetricsTableHook')]
