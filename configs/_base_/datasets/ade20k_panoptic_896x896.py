# ADE20K panoptic with 896x896 crops: the pipelines of ade20k_panoptic.py (see its
# comments) re-stated for this crop size, and the 234 texts of a 250-query model.
_base_ = './ade20k_panoptic.py'

crop_size = (896, 896)
num_texts = 234
train_pipeline = [
    dict(type='LoadImageFromFile', backend_args=None),
    dict(type='LoadStrictPanopticAnnotations', with_bbox=True, with_mask=True,
         with_seg=True, backend_args=None),
    dict(type='RandomChoiceResize',
         scales=[int(x * 0.1 * crop_size[0]) for x in range(5, 21)],
         resize_type='ResizeShortestEdge', max_size=4 * crop_size[0]),
    dict(type='RandomCrop', crop_size=(crop_size[1], crop_size[0]),
         crop_type='absolute', recompute_bbox=True, allow_negative_crop=True),
    dict(type='mmseg.PhotoMetricDistortion', brightness_delta=32,
         contrast_range=(0.5, 1.5), saturation_range=(0.5, 1.5), hue_delta=18),
    dict(type='RandomFlip', prob=0.5, direction='horizontal'),
    dict(type='Pad', size=(crop_size[1], crop_size[0]),
         pad_val=dict(img=128, seg=255, masks=0)),
    dict(type='OneFormerTaskSampling'),
    dict(type='PackOneFormerInputs'),
]
test_pipeline = [
    dict(type='LoadImageFromFile', backend_args=None),
    dict(type='ResizeShortestEdge', scale=crop_size[0], max_size=4 * crop_size[0]),
    dict(type='LoadSceneParsingSemSeg', backend_args=None),
    dict(type='PackOneFormerInputs',
         meta_keys=('img_id', 'img_path', 'ori_shape', 'img_shape',
                    'scale_factor')),
]
train_dataloader = dict(
    dataset=dict(num_texts=num_texts, pipeline=train_pipeline))
val_dataloader = dict(dataset=dict(pipeline=test_pipeline))
test_dataloader = val_dataloader
# Semantic test-time augmentation (tools/test.py --tta), as released: MIN_SIZES x
# {no flip, horizontal flip}, longer side at most MAX_SIZE; OneFormerTTAModel averages
# the per-class scores of the views. The released values for the 896 crop (678,
# not 672, as released).
tta_model = dict(type='OneFormerTTAModel')
tta_pipeline = [
    dict(type='LoadImageFromFile', backend_args=None),
    dict(type='TestTimeAug', transforms=[
        [dict(type='ResizeShortestEdge', scale=s, max_size=6272)
         for s in [448, 678, 896, 1120, 1344, 1568]],
        [dict(type='RandomFlip', prob=0.0), dict(type='RandomFlip', prob=1.0)],
        [dict(type='LoadSceneParsingSemSeg', backend_args=None)],
        [dict(type='PackOneFormerInputs',
              meta_keys=('img_id', 'img_path', 'ori_shape', 'img_shape',
                         'scale_factor', 'flip', 'flip_direction'))],
    ]),
]
