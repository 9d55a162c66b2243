# OneFormer ConvNeXt-XL (dims 256-2048; released initialisation: ImageNet-22k->1k
# 384px, EMA weights).
_base_ = './oneformer_convnext-l.py'

pretrained = ('https://download.openmmlab.com/mmclassification/v0/convnext/'
              'convnext-xlarge_in21k-pre-3rdparty_in1k-384px_20221219-b161bc14.pth')
model = dict(
    backbone=dict(
        arch='xlarge',
        init_cfg=dict(
            type='Pretrained', checkpoint=pretrained, prefix='backbone.')),
    panoptic_head=dict(in_channels=[256, 512, 1024, 2048]))
