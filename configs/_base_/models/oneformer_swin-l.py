# OneFormer Swin-L (released D2SwinTransformer Large: embed 192, depths 2-2-18-2,
# window 12, pretrained at 384, drop path 0.3). 150 queries as on COCO; the ADE20K and
# Cityscapes configs use 250.
_base_ = './oneformer_swin-t.py'

pretrained = ('https://github.com/SwinTransformer/storage/releases/download/'
              'v1.0.0/swin_large_patch4_window12_384_22kto1k.pth')
model = dict(
    backbone=dict(
        pretrain_img_size=384,
        embed_dims=192,
        depths=[2, 2, 18, 2],
        num_heads=[6, 12, 24, 48],
        window_size=12,
        init_cfg=dict(type='Pretrained', checkpoint=pretrained)),
    panoptic_head=dict(in_channels=[192, 384, 768, 1536]))
