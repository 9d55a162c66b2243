# OneFormer R50 as an mmseg segmentor: EncoderDecoder + OneFormerSegHead.
# The architecture, losses and matcher are those of the mmdet OneFormer R50
# (../../_base_/models/oneformer_r50.py, the released numbers): its head, task
# encoder, text mapper and train_cfg move into the decode head, whose
# sub-modules are built in mmdet's scope. Leaf configs set the classes and
# the crop size.
_base_ = '../../_base_/models/oneformer_r50.py'

num_classes = 150
mmdet_model = _base_.model
decode_head = mmdet_model.panoptic_head
# semantic segmentation has no things/stuff split
decode_head.pop('num_things_classes')
decode_head.pop('num_stuff_classes')
decode_head.update(
    type='OneFormerSegHead',
    num_classes=num_classes,
    class_names='ade20k',
    align_corners=False,
    train_cfg=mmdet_model.train_cfg)
decode_head.loss_cls.class_weight = [1.0] * num_classes + [0.1]
del _base_.model, _base_.num_things_classes, _base_.num_stuff_classes

# The mmdet model's input (RGB normalised, padded bottom/right to a multiple
# of 32 with 0); training batches are padded to the crop size.
det_inputs = mmdet_model.data_preprocessor
data_preprocessor = dict(
    type='SegDataPreProcessor',
    mean=det_inputs.mean,
    std=det_inputs.std,
    bgr_to_rgb=det_inputs.bgr_to_rgb,
    pad_val=0,
    seg_pad_val=255,
    size=(512, 512),
    test_cfg=dict(size_divisor=det_inputs.pad_size_divisor))
model = dict(
    type='EncoderDecoder',
    data_preprocessor=data_preprocessor,
    backbone=mmdet_model.backbone,
    decode_head=decode_head,
    train_cfg=dict(),
    test_cfg=dict(mode='whole'))
del mmdet_model, decode_head, det_inputs  # not config keys
