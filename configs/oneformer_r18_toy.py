# A small OneFormer trained jointly on the bundled toy dataset on a CPU (`make demo`,
# about 7 minutes of training on 2 cores).
# The released architecture (task token, query initialiser, masked decoder, text
# mapper, contrastive loss) at toy width: ResNet-18 from scratch, 64-d features,
# 20 queries (16 texts + 4 context), 3 masked-decoder layers.
_base_ = [
    './_base_/default_runtime.py',
    './_base_/datasets/toy_panoptic.py',
    './_base_/models/oneformer_r50.py',
]

num_things_classes = 3
num_stuff_classes = 4
num_classes = num_things_classes + num_stuff_classes
num_queries = 20
num_context = 4
embed_dims = 64
layer = dict(
    self_attn_cfg=dict(embed_dims=embed_dims, num_heads=4),
    cross_attn_cfg=dict(embed_dims=embed_dims, num_heads=4),
    ffn_cfg=dict(embed_dims=embed_dims, feedforward_channels=256))
positional_encoding = dict(num_feats=embed_dims // 2, normalize=True)

model = dict(
    data_preprocessor=dict(batch_augments=None),
    backbone=dict(depth=18, norm_cfg=dict(type='BN', requires_grad=True),
                  norm_eval=False, init_cfg=None),
    panoptic_head=dict(
        text_mapper=dict(
            num_context=num_context,
            text_encoder=dict(width=embed_dims, heads=2, layers=2)),
        in_channels=[64, 128, 256, 512],
        feat_channels=embed_dims,
        out_channels=embed_dims,
        num_things_classes=num_things_classes,
        num_stuff_classes=num_stuff_classes,
        num_queries=num_queries,
        pixel_decoder=dict(
            encoder=dict(
                num_layers=2,
                layer_cfg=dict(
                    self_attn_cfg=dict(embed_dims=embed_dims, num_heads=4),
                    ffn_cfg=dict(embed_dims=embed_dims,
                                 feedforward_channels=256))),
            positional_encoding=positional_encoding),
        positional_encoding=positional_encoding,
        query_initialiser=dict(
            decoder=dict(layer_cfg=layer),
            positional_encoding=positional_encoding),
        transformer_decoder=dict(num_layers=3, layer_cfg=layer),
        loss_cls=dict(class_weight=[1.0] * num_classes + [0.1])),
    panoptic_fusion_head=dict(
        num_things_classes=num_things_classes,
        num_stuff_classes=num_stuff_classes),
    train_cfg=dict(num_points=1024))

train_dataloader = dict(batch_size=4)

max_iters = 1000
optim_wrapper = dict(
    type='OptimWrapper',
    optimizer=dict(type='AdamW', lr=1e-3, weight_decay=0.05, eps=1e-8,
                   betas=(0.9, 0.999)),
    paramwise_cfg=dict(
        custom_keys={
            'query_embed': dict(decay_mult=0.0),
            'level_embed': dict(decay_mult=0.0),
        },
        norm_decay_mult=0.0),
    clip_grad=dict(max_norm=1.0, norm_type=2))
param_scheduler = dict(type='PolyLR', eta_min=0, power=0.9, begin=0,
                       end=max_iters, by_epoch=False)
train_cfg = dict(type='IterBasedTrainLoop', max_iters=max_iters,
                 val_interval=max_iters)
val_cfg = dict(type='ValLoop')
test_cfg = dict(type='TestLoop')
default_hooks = dict(
    logger=dict(type='LoggerHook', interval=20),
    checkpoint=dict(type='CheckpointHook', by_epoch=False, interval=500,
                    max_keep_ckpts=2, save_last=True))
log_processor = dict(type='LogProcessor', window_size=20, by_epoch=False)
randomness = dict(seed=0)
