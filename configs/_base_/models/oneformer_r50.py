# OneFormer R50 (released ADE20K/COCO R50 architecture: 150 queries, 6
# deformable pixel-decoder layers, 2-layer query initialiser, 9 masked
# decoder layers). Class counts and thresholds are COCO panoptic's; dataset
# configs override them (ADE20K: 100 things + 50 stuff, object_mask_thr=0.5).
custom_imports = dict(
    imports=['projects.oneformer'], allow_failed_imports=False)

num_things_classes = 80
num_stuff_classes = 53
num_classes = num_things_classes + num_stuff_classes
num_queries = 150
embed_dims = 256
# query initialiser (DETR decoder, dropout 0.1) / masked decoder (no dropout)
query_init_attn = dict(
    embed_dims=embed_dims, num_heads=8, attn_drop=0.1, proj_drop=0.1)
query_init_ffn = dict(
    embed_dims=embed_dims,
    feedforward_channels=2048,
    num_fcs=2,
    ffn_drop=0.1,
    act_cfg=dict(type='ReLU', inplace=True))
decoder_attn = dict(embed_dims=embed_dims, num_heads=8, batch_first=True)

model = dict(
    type='OneFormer',
    data_preprocessor=dict(
        type='DetDataPreprocessor',
        mean=[123.675, 116.28, 103.53],
        std=[58.395, 57.12, 57.375],
        bgr_to_rgb=True,
        pad_size_divisor=32,
        pad_mask=True,
        mask_pad_value=0,
        pad_seg=True,
        seg_pad_value=255),
    backbone=dict(
        type='ResNet',
        depth=50,
        num_stages=4,
        out_indices=(0, 1, 2, 3),
        frozen_stages=-1,
        norm_cfg=dict(type='BN', requires_grad=False),
        norm_eval=True,
        style='pytorch',
        init_cfg=dict(type='Pretrained', checkpoint='torchvision://resnet50')),
    panoptic_head=dict(
        type='OneFormerHead',
        task_encoder=dict(type='TaskTokenEncoder'),
        # Training only: the text mapper and the contrastive loss (Sec.
        # 3.2-3.3). An inference model may drop both (text_mapper=None,
        # loss_contrastive=None); their checkpoint keys are then ignored.
        text_mapper=dict(type='TextMapper', num_context=16),
        in_channels=[256, 512, 1024, 2048],
        strides=[4, 8, 16, 32],
        feat_channels=embed_dims,
        out_channels=embed_dims,
        num_things_classes=num_things_classes,
        num_stuff_classes=num_stuff_classes,
        num_queries=num_queries,
        num_transformer_feat_level=3,
        pixel_decoder=dict(
            type='OneFormerPixelDecoder',
            num_outs=3,
            norm_cfg=dict(type='GN', num_groups=32),
            act_cfg=dict(type='ReLU'),
            encoder=dict(
                num_layers=6,
                layer_cfg=dict(
                    self_attn_cfg=dict(
                        embed_dims=embed_dims,
                        num_heads=8,
                        num_levels=3,
                        num_points=4,
                        dropout=0.1,
                        batch_first=True),
                    ffn_cfg=dict(
                        embed_dims=embed_dims,
                        feedforward_channels=1024,
                        num_fcs=2,
                        ffn_drop=0.1,
                        act_cfg=dict(type='ReLU', inplace=True)))),
            positional_encoding=dict(
                num_feats=embed_dims // 2, normalize=True)),
        enforce_decoder_input_project=False,
        positional_encoding=dict(num_feats=embed_dims // 2, normalize=True),
        query_initialiser=dict(
            type='OneFormerQueryInitialiser',
            decoder=dict(
                num_layers=2,
                layer_cfg=dict(
                    self_attn_cfg=query_init_attn,
                    cross_attn_cfg=query_init_attn,
                    ffn_cfg=query_init_ffn),
                post_norm_cfg=dict(type='LN')),
            positional_encoding=dict(
                num_feats=embed_dims // 2, normalize=True)),
        transformer_decoder=dict(
            return_intermediate=True,
            num_layers=9,
            layer_cfg=dict(
                self_attn_cfg=decoder_attn,
                cross_attn_cfg=decoder_attn,
                ffn_cfg=dict(query_init_ffn, ffn_drop=0.0)),
            init_cfg=None),
        loss_cls=dict(
            type='CrossEntropyLoss',
            use_sigmoid=False,
            loss_weight=2.0,
            reduction='mean',
            class_weight=[1.0] * num_classes + [0.1]),
        loss_mask=dict(
            type='CrossEntropyLoss',
            use_sigmoid=True,
            reduction='mean',
            loss_weight=5.0),
        loss_dice=dict(
            type='DiceLoss',
            use_sigmoid=True,
            activate=True,
            reduction='mean',
            naive_dice=True,
            eps=1.0,
            loss_weight=5.0),
        loss_contrastive=dict(
            type='QueryTextContrastiveLoss',
            loss_weight=0.5,
            init_temperature=0.07,
            max_logit_scale=100.0)),
    panoptic_fusion_head=dict(
        type='OneFormerFusionHead',
        num_things_classes=num_things_classes,
        num_stuff_classes=num_stuff_classes,
        loss_panoptic=None,
        init_cfg=None),
    train_cfg=dict(
        num_points=12544,
        oversample_ratio=3.0,
        importance_sample_ratio=0.75,
        assigner=dict(
            type='HungarianAssigner',
            match_costs=[
                dict(type='ClassificationCost', weight=2.0),
                dict(
                    type='CrossEntropyLossCost', weight=5.0, use_sigmoid=True),
                dict(type='DiceCost', weight=5.0, pred_act=True, eps=1.0)
            ]),
        sampler=dict(type='MaskPseudoSampler')),
    test_cfg=dict(
        # One model, three tasks: every image is evaluated with each task
        # token. For one task: tasks=None and task='semantic' (or the
        # image's metainfo 'task'). The instance top-k (max_per_image)
        # defaults to the number of queries.
        tasks=['panoptic', 'instance', 'semantic'],
        task='panoptic',
        object_mask_thr=0.8,
        iou_thr=0.8,
        filter_low_score=True),
    init_cfg=None)
