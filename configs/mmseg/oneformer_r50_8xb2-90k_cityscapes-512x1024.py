# OneFormer R50 on Cityscapes semantic segmentation (19 classes), 512x1024
# crops, 90k iterations at batch 16 (8 x 2), evaluated with the semantic task
# (mIoU) on full 1024x2048 images.
_base_ = [
    './_base_/default_runtime.py',
    'mmseg::_base_/datasets/cityscapes.py',
    './_base_/oneformer_schedule_160k.py',
    './_base_/oneformer_r50.py',
]

crop_size = (512, 1024)
data_preprocessor = dict(size=crop_size)
num_classes = 19
model = dict(
    data_preprocessor=data_preprocessor,
    # Cityscapes trains the R50 BN layers (SyncBN; plain BN on one GPU).
    backbone=dict(
        norm_cfg=dict(type='SyncBN', requires_grad=True), norm_eval=False),
    decode_head=dict(
        num_classes=num_classes,
        class_names='cityscapes',
        loss_cls=dict(class_weight=[1.0] * num_classes + [0.1])))

# The trained BN layers get no weight decay (released), at the backbone lr.
# These keys are longer than 'backbone', so they are matched before it.
optim_wrapper = dict(
    paramwise_cfg=dict(
        custom_keys={
            f'.{norm}.{param}': dict(lr_mult=0.1, decay_mult=0.0)
            for norm in ('bn1', 'bn2', 'bn3', 'downsample.1')
            for param in ('weight', 'bias')
        }))

max_iters = 90000
param_scheduler = [dict(type='PolyLR', eta_min=0, power=0.9, begin=0,
                        end=max_iters, by_epoch=False)]
train_cfg = dict(max_iters=max_iters)
