# ADE20K panoptic (150 classes: 100 things, 50 stuff) with OneFormer's released
# training recipe (SHI-Labs/OneFormer configs/ade20k/Base-ADE20K-UnifiedSegmentation
# .yaml, INPUT; oneformer/data/dataset_mappers/oneformer_unified_dataset_mapper.py)
# and one test run that scores PQ, mask AP and mIoU.
# Data: python tools/dataset_converters/ade20k_panoptic.py data/ADEChallengeData2016
dataset_type = 'OneFormerADE20KPanopticDataset'  # classes: its METAINFO
data_root = 'data/ADEChallengeData2016/'
backend_args = None

# INPUT.CROP.SIZE (h, w): 512 for R50/Swin-T. The 640/896/1280 variants
# (ade20k_panoptic_{640x640,896x896,1280x1280}.py) set their crop_size and re-state
# the pipelines (a classic config resolves these variables in the file that
# defines them, as mmseg's 640x640 configs do).
crop_size = (512, 512)
# N_text = num_queries - 16 learnable text contexts: 134 for 150 queries (R50,
# Swin-T), 234 for 250 (Swin-L, ConvNeXt, DiNAT): train_dataloader.dataset.num_texts.
num_texts = 134

train_pipeline = [
    # uint8, as detectron2 reads it: the SSD colour jitter clips in uint8
    dict(type='LoadImageFromFile', backend_args=backend_args),
    dict(type='LoadStrictPanopticAnnotations', with_bbox=True, with_mask=True,
         with_seg=True, backend_args=backend_args),
    # ResizeShortestEdge(MIN_SIZE_TRAIN = [int(x * 0.1 * 512) for x in range(5, 21)],
    # MAX_SIZE_TRAIN = 2048, 'choice'); mmdet's ResizeShortestEdge is its port.
    dict(type='RandomChoiceResize',
         scales=[int(x * 0.1 * crop_size[0]) for x in range(5, 21)],
         resize_type='ResizeShortestEdge',
         max_size=4 * crop_size[0]),
    # RandomCrop_CategoryAreaConstraint with SINGLE_CATEGORY_MAX_AREA 1.0 is a plain
    # random crop (mmdet's takes (w, h)); crops without things are kept, as released.
    dict(type='RandomCrop', crop_size=(crop_size[1], crop_size[0]),
         crop_type='absolute', recompute_bbox=True, allow_negative_crop=True),
    # COLOR_AUG_SSD (detectron2's ColorAugSSDTransform). mmseg's transform is the same
    # algorithm on uint8 (clipping after each step, hue shift in OpenCV's 0-180 units);
    # mmdet's works in float without clipping, shifts hue in degrees (half as much)
    # and permutes the channels with probability 0.5, which the released one never does.
    dict(type='mmseg.PhotoMetricDistortion', brightness_delta=32,
         contrast_range=(0.5, 1.5), saturation_range=(0.5, 1.5), hue_delta=18),
    dict(type='RandomFlip', prob=0.5, direction='horizontal'),
    # SIZE_DIVISIBILITY = crop size: the mapper pads bottom/right to the crop with 128
    # before normalisation; ground truth with void (seg) and background (masks).
    dict(type='Pad', size=(crop_size[1], crop_size[0]),
         pad_val=dict(img=128, seg=255, masks=0)),
    # task per image (released thresholds), its targets and its text list
    dict(type='OneFormerTaskSampling'),
    dict(type='PackOneFormerInputs'),
]
test_pipeline = [
    dict(type='LoadImageFromFile', backend_args=backend_args),
    # MIN_SIZE_TEST = crop size, MAX_SIZE_TEST = 4 x crop size
    dict(type='ResizeShortestEdge', scale=crop_size[0], max_size=4 * crop_size[0]),
    # after the resize: the semantic ground truth (SemSegMetric) stays at the original
    # size. It is the SceneParsing map (annotations/validation), as released: it also
    # labels thing pixels that no instance covers. PQ and AP read the json files.
    dict(type='LoadSceneParsingSemSeg', backend_args=backend_args),
    dict(type='PackOneFormerInputs',
         meta_keys=('img_id', 'img_path', 'ori_shape', 'img_shape',
                    'scale_factor')),
]

# Semantic test-time augmentation (tools/test.py --tta), as released: MIN_SIZES x
# {no flip, horizontal flip}, longer side at most MAX_SIZE; OneFormerTTAModel averages
# the per-class scores of the views. For the 512 crop: the released ratios of the
# 640/896/1280 crops (x0.5 to x1.75 of the crop, MAX_SIZE 7 x crop), the values of
# Mask2Former's ADE20K.
tta_model = dict(type='OneFormerTTAModel')
tta_pipeline = [
    dict(type='LoadImageFromFile', backend_args=backend_args),
    dict(type='TestTimeAug', transforms=[
        [dict(type='ResizeShortestEdge', scale=s, max_size=3584)
         for s in [256, 384, 512, 640, 768, 896]],
        [dict(type='RandomFlip', prob=0.0), dict(type='RandomFlip', prob=1.0)],
        [dict(type='LoadSceneParsingSemSeg', backend_args=backend_args)],
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
        ann_file='ade20k_panoptic_train.json',
        data_prefix=dict(img='images/training/', seg='ade20k_panoptic_train/'),
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
        ann_file='ade20k_panoptic_val.json',
        data_prefix=dict(img='images/validation/', seg='ade20k_panoptic_val/',
                         sem_seg='annotations/validation/'),
        test_mode=True,
        pipeline=test_pipeline,
        backend_args=backend_args))
test_dataloader = val_dataloader

# One run, three tasks (model test_cfg.tasks = ['panoptic', 'instance', 'semantic']).
val_evaluator = [
    dict(type='CocoPanopticMetric',
         ann_file=data_root + 'ade20k_panoptic_val.json',
         seg_prefix=data_root + 'ade20k_panoptic_val/',
         backend_args=backend_args),
    # the thing instances of the panoptic annotation (released: ade20k_instance_val,
    # the same masks, from the instance release)
    dict(type='CocoMetric',
         ann_file=data_root + 'ade20k_instance_val.json',
         metric=['segm'],
         backend_args=backend_args),
    # on the SceneParsing maps (LoadSceneParsingSemSeg), as released
    dict(type='SemSegMetric', iou_metrics=['mIoU'], prefix='sem_seg'),
]
test_evaluator = val_evaluator
# PQ, AP and mIoU of one evaluation run as one table (+ JSON in the work dir)
custom_hooks = [dict(type='TaskMetricsTableHook')]
