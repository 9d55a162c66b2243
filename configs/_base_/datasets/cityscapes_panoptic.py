# Cityscapes panoptic (19 classes: 8 things, 11 stuff) with OneFormer's released
# training recipe (SHI-Labs/OneFormer configs/cityscapes/Base-Cityscapes-Unified
# Segmentation.yaml, INPUT; oneformer/data/dataset_mappers/
# oneformer_unified_dataset_mapper.py) and one test run that scores PQ, mask AP and
# mIoU (the release's evaluators, see val_evaluator).
# Data: python tools/dataset_converters/cityscapes_panoptic.py data/cityscapes
# (keep gtFine/val/<city>/*_gtFine_instanceIds.png: the AP evaluator reads them)
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
    # size; PQ reads the json file and its PNGs, AP the gtFine instanceIds PNGs
    dict(type='LoadStrictPanopticAnnotations', with_bbox=False, with_label=False,
         with_mask=False, with_seg=True, backend_args=backend_args),
    dict(type='PackOneFormerInputs',
         meta_keys=('img_id', 'img_path', 'ori_shape', 'img_shape',
                    'scale_factor')),
]

# Semantic test-time augmentation (tools/test.py --tta), as released: MIN_SIZES x
# {no flip, horizontal flip}, longer side at most MAX_SIZE; OneFormerTTAModel averages
# the per-class scores of the views. The released Cityscapes values.
tta_model = dict(type='OneFormerTTAModel')
tta_pipeline = [
    dict(type='LoadImageFromFile', backend_args=backend_args),
    dict(type='TestTimeAug', transforms=[
        [dict(type='ResizeShortestEdge', scale=s, max_size=4096)
         for s in [512, 768, 1024, 1280, 1536, 1792]],
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

# One run, three tasks (model test_cfg.tasks = ['panoptic', 'instance', 'semantic']),
# scored as the release scores Cityscapes (train_net.py, cityscapes_panoptic_seg):
# PQ with the COCO panoptic evaluator, AP and mIoU with the Cityscapes evaluators.
val_evaluator = [
    # PQ. outfile_prefix is required: without it mmdet looks a ground-truth PNG up
    # by the image's base name, missing the <city>/ folder (see the converter's
    # docstring).
    dict(type='CocoPanopticMetric',
         ann_file=data_root + 'gtFine/cityscapes_panoptic_val.json',
         seg_prefix=data_root + 'gtFine/cityscapes_panoptic_val/',
         outfile_prefix='work_dirs/cityscapes_panoptic_val/pq',
         backend_args=backend_args),
    # AP (cityscapes/mAP, AP@50): cityscapesscripts' instance-level evaluation (AP
    # over IoU 0.5:0.95, ground-truth instances >= 100 px, crowd and void regions
    # ignored), the released CityscapesInstanceEvaluator; scores = class prob x mask
    # score, as released. It reads the original gtFine/val/<city>/
    # *_gtFine_instanceIds.png, found from each image's path (leftImg8bit ->
    # gtFine); seg_prefix only names that folder. Per-image prediction PNGs and
    # txt files go to <outfile_prefix>/results/, which must be shared by all ranks.
    dict(type='CityScapesMetric',
         seg_prefix=data_root + 'gtFine/val/',
         outfile_prefix='work_dirs/cityscapes_panoptic_val/instance',
         backend_args=backend_args),
    # mIoU over the 19 classes. The released CityscapesSemSegEvaluator maps the
    # argmax to label ids and runs cityscapesscripts' pixel-level evaluation on
    # the full-resolution gtFine/val *_gtFine_labelIds.png: one confusion matrix
    # over all images, IoU = TP / (TP + FP + FN) per class, where FP counts only
    # pixels whose ground truth is an evaluated class, classes with an empty
    # denominator are left out of the mean. SemSegMetric computes the same
    # number: its ground truth (the panoptic PNG at the original size, crowd
    # regions keeping their class, the ignoreInEval labels void = 255) is the
    # labelIds map with the void labels as 255, since cityscapesscripts renders
    # *_labelIds.png and *_instanceIds.png from the same polygons (label id =
    # instanceIds value, // 1000 for instances); its prediction is the argmax over
    # the same 19 classes; it drops void pixels and takes intersection / union of
    # the counts summed over images, NaN (0 / 0) classes left out of the mean.
    # The only differences are numerical: class counts summed in float32 (exact
    # below 2^24 pixels; on the 500 val images the rounding moves mIoU by far
    # less than 0.01) and the 2-decimal rounding of the result.
    # tests/test_datasets/test_cityscapes_evaluation.py checks it against
    # cityscapesscripts' evaluator.
    dict(type='SemSegMetric', iou_metrics=['mIoU'], prefix='sem_seg'),
]
test_evaluator = val_evaluator
# PQ, AP and mIoU of one evaluation run as one table (+ JSON in the work dir)
custom_hooks = [dict(type='TaskMetricsTableHook')]
