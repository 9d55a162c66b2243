# Cityscapes panoptic (19 classes: 8 things, 11 stuff) with OneFormer's released
# training recipe (SHI-Labs/OneFormer configs/cityscapes/Base-Cityscapes-Unified
# Segmentation.yaml, INPUT; oneformer/data/dataset_mappers/
# oneformer_unified_dataset_mapper.py) and one test run that scores PQ, mask AP and
# mIoU.
# Data: python tools/dataset_converters/cityscapes_panoptic.py data/cityscapes
dataset_type = 'CityscapesPanopticDataset'  # classes: its METAINFO
data_root = 'data/cityscapes/'
backend_args = None

# INPUT.CROP.SIZE (h, w)
crop_size = (512, 1024)
# N_text = num_queries - 16 learnable text contexts: 134 for 150 queries (R50),
# 234 for 250 (Swin-L, ConvNeXt, DiNAT).
num_texts = 134

train_pipeline = [
    # uint8, as detectron2 reads it: the SSD colour jitter clips in uint8
    dict(type='LoadImageFromFile', backend_args=backend_args),
    dict(type='LoadStrictPanopticAnnotations', with_bbox=True, with_mask=True,
         with_seg=True, backend_args=backend_args),
    # ResizeShortestEdge(MIN_SIZE_TRAIN = [int(x * 0.1 * 1024) for x in range(5, 21)],
    # MAX_SIZE_TRAIN = 4096, 'choice'); mmdet's ResizeShortestEdge is its port.
    dict(type='RandomChoiceResize',
         scales=[int(x * 0.1 * 1024) for x in range(5, 21)],
         resize_type='ResizeShortestEdge',
         max_size=4096),
    # RandomCrop_CategoryAreaConstraint with SINGLE_CATEGORY_MAX_AREA 1.0 is a plain
    # random crop (mmdet's takes (w, h)); crops without things are kept, as released.
    dict(type='RandomCrop', crop_size=(crop_size[1], crop_size[0]),
         crop_type='absolute', recompute_bbox=True, allow_negative_crop=True),
    # COLOR_AUG_SSD (detectron2's ColorAugSSDTransform): mmseg's transform is the same
    # algorithm on uint8; mmdet's differs (see ade20k_panoptic.py).
    dict(type='mmseg.PhotoMetricDistortion', brightness_delta=32,
         contrast_range=(0.5, 1.5), saturation_range=(0.5, 1.5), hue_delta=18),
    dict(type='RandomFlip', prob=0.5, direction='horizontal'),
    # SIZE_DIVISIBILITY -1: no pad here (a 1024x2048 image resized to a short edge
    # >= 512 always fills the crop); the data preprocessor pads the batch.
    # task per image (released thresholds), its targets and its text list
    dict(type='OneFormerTaskSampling'),
    dict(type='PackOneFormerInputs'),
]
test_pipeline = [
    dict(type='LoadImageFromFile', backend_args=backend_args),
    # MIN_SIZE_TEST 1024, MAX_SIZE_TEST 2048: the 1024x2048 images keep their size
    dict(type='ResizeShortestEdge', scale=1024, max_size=2048),
    # after the resize: the semantic ground truth (SemSegMetric) stays at the original
    # size; PQ and AP read the json files
    dict(type='LoadStrictPanopticAnnotations', with_bbox=False, with_label=False,
         with_mask=False, with_seg=True, backend_args=backend_args),
    dict(type='PackOneFormerInputs',
         meta_keys=('img_id', 'img_path', 'ori_shape', 'img_shape',
                    'scale_factor')),
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
        ann_file='gtFine/cityscapes_panoptic_train.json',
        data_prefix=dict(img='leftImg8bit/train/',
                         seg='gtFine/cityscapes_panoptic_train/'),
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
        ann_file='gtFine/cityscapes_panoptic_val.json',
        data_prefix=dict(img='leftImg8bit/val/',
                         seg='gtFine/cityscapes_panoptic_val/'),
        test_mode=True,
        pipeline=test_pipeline,
        backend_args=backend_args))
test_dataloader = val_dataloader

# One run, three tasks (model test_cfg.tasks = ['panoptic', 'instance', 'semantic']).
# The released code scores with the Cityscapes evaluators: its PQ and mIoU (train ids)
# equal these; its instance AP (cityscapesscripts, regions >= 100 px) is not COCO's.
val_evaluator = [
    # outfile_prefix is required: without it mmdet looks a ground-truth PNG up by the
    # image's base name, missing the <city>/ folder (see the converter's docstring).
    dict(type='CocoPanopticMetric',
         ann_file=data_root + 'gtFine/cityscapes_panoptic_val.json',
         seg_prefix=data_root + 'gtFine/cityscapes_panoptic_val/',
         outfile_prefix='work_dirs/cityscapes_panoptic_val/pq',
         backend_args=backend_args),
    dict(type='CocoMetric',
         ann_file=data_root + 'gtFine/cityscapes_instance_val.json',
         metric=['segm'],
         backend_args=backend_args),
    dict(type='SemSegMetric', iou_metrics=['mIoU'], prefix='sem_seg'),
]
test_evaluator = val_evaluator
# PQ, AP and mIoU of one evaluation run as one table (+ JSON in the work dir)
custom_hooks = [dict(type='TaskMetricsTableHook')]
