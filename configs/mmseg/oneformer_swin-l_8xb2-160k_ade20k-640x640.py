# OneFormer Swin-L (ImageNet-22k, 384) on ADE20K semantic segmentation,
# 640x640 crops, 250 queries (234 texts + 16 context), 160k iterations at
# batch 16 (8 x 2). Released: 57.0 mIoU (single scale, semantic task).
_base_ = [
    './_base_/default_runtime.py',
    'mmseg::_base_/datasets/ade20k_640x640.py',
    './_base_/oneformer_schedule_160k.py',
    './_base_/oneformer_r50.py',
]
pretrained = 'https://download.openmmlab.com/mmsegmentation/v0.5/pretrain/swin/swin_large_patch4_window12_384_22k_20220412-6580f57d.pth'  # noqa

crop_size = (640, 640)
data_preprocessor = dict(size=crop_size)
depths = [2, 2, 18, 2]
model = dict(
    data_preprocessor=data_preprocessor,
    # out_indices (0, 1, 2, 3) gives the released LayerNorm on every output
    # stage (norm0-3)
    backbone=dict(
        _delete_=True,
        type='SwinTransformer',
        pretrain_img_size=384,
        embed_dims=192,
        depths=depths,
        num_heads=[6, 12, 24, 48],
        window_size=12,
        mlp_ratio=4,
        qkv_bias=True,
        qk_scale=None,
        drop_rate=0.0,
        attn_drop_rate=0.0,
        drop_path_rate=0.3,
        patch_norm=True,
        out_indices=(0, 1, 2, 3),
        with_cp=False,
        frozen_stages=-1,
        init_cfg=dict(type='Pretrained', checkpoint=pretrained)),
    decode_head=dict(in_channels=[192, 384, 768, 1536], num_queries=250))
train_dataloader = dict(batch_size=2)

# Backbone norms and position tables: backbone lr (x0.1), no weight decay.
backbone_no_decay = dict(lr_mult=0.1, decay_mult=0.0)
custom_keys = {
    'backbone.patch_embed.norm': backbone_no_decay,
    'backbone.norm': backbone_no_decay,
    'absolute_pos_embed': backbone_no_decay,
    'relative_position_bias_table': backbone_no_decay,
}
custom_keys.update({
    f'backbone.stages.{stage}.blocks.{block}.norm': backbone_no_decay
    for stage, num_blocks in enumerate(depths) for block in range(num_blocks)
})
custom_keys.update({
    f'backbone.stages.{stage}.downsample.norm': backbone_no_decay
    for stage in range(len(depths) - 1)
})
optim_wrapper = dict(paramwise_cfg=dict(custom_keys=custom_keys))
