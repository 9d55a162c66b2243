# OneFormer ConvNeXt-L (released D2ConvNeXt: dims 192-1536, depths 3-3-27-3, drop
# path 0.4, layer scale 1.0, a LayerNorm on every output stage) on mmpretrain's
# ConvNeXt, whose ImageNet-22k->1k 384px checkpoint is the released initialisation.
# Configs using it also set optim_wrapper.paramwise_cfg.decay_norm_types (the
# released ConvNeXt LayerNorm is not a torch norm class, so it decays).
_base_ = './oneformer_r50.py'

pretrained = ('https://download.openmmlab.com/mmclassification/v0/convnext/'
              'convnext-large_in21k-pre-3rdparty_in1k-384px_20221219-6d38dd66.pth')
model = dict(
    backbone=dict(
        _delete_=True,
        type='mmpretrain.ConvNeXt',
        arch='large',
        out_indices=(0, 1, 2, 3),
        drop_path_rate=0.4,
        layer_scale_init_value=1.0,
        gap_before_final_norm=False,
        init_cfg=dict(
            type='Pretrained', checkpoint=pretrained, prefix='backbone.')),
    panoptic_head=dict(in_channels=[192, 384, 768, 1536]))
