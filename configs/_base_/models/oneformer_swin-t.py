# OneFormer Swin-T (released D2SwinTransformer Tiny: embed 96, depths 2-2-6-2,
# window 7, drop path 0.3, a LayerNorm on every output stage), 150 queries.
_base_ = './oneformer_r50.py'

pretrained = ('https://github.com/SwinTransformer/storage/releases/download/'
              'v1.0.0/swin_tiny_patch4_window7_224.pth')
model = dict(
    backbone=dict(
        _delete_=True,
        # mmdet's SwinTransformer, its shifted-window mask at -inf instead
        # of -100: the same weights and outputs, no subnormal attention
        # weights (slow on CPUs)
        type='InfMaskSwinTransformer',
        embed_dims=96,
        depths=[2, 2, 6, 2],
        num_heads=[3, 6, 12, 24],
        window_size=7,
        mlp_ratio=4,
        qkv_bias=True,
        qk_scale=None,
        drop_rate=0.,
        attn_drop_rate=0.,
        drop_path_rate=0.3,
        patch_norm=True,
        out_indices=(0, 1, 2, 3),
        with_cp=False,
        # the official (timm-layout) checkpoint: mmdet converts it on load
        convert_weights=True,
        frozen_stages=-1,
        init_cfg=dict(type='Pretrained', checkpoint=pretrained)),
    panoptic_head=dict(in_channels=[96, 192, 384, 768]))
