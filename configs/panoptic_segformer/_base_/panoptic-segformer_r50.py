# Panoptic SegFormer R50 as released (model and optimiser); datasets and
# schedules come from the configs that inherit it.
custom_imports = dict(imports=['projects.panoptic_segformer'], allow_failed_imports=False)

num_things_classes = 80
num_stuff_classes = 53
embed_dims = 256
location_costs = [
    dict(type='FocalLossCost', weight=2.0),
    dict(type='BBoxL1Cost', weight=5.0, box_format='xywh'),
    dict(type='IoUCost', iou_mode='giou', weight=2.0)
]
model = dict(
    type='PanopticSegFormer',
    num_queries=300,
    num_feature_levels=4,
    with_box_refine=True,
    as_two_stage=False,
    data_preprocessor=dict(
        type='DetDataPreprocessor',
        mean=[123.675, 116.28, 103.53],
        std=[58.395, 57.12, 57.375],
        bgr_to_rgb=True,
        pad_size_divisor=1,
        pad_mask=True,
        mask_pad_value=0,
        pad_seg=True,
        seg_pad_value=255),
    backbone=dict(
        type='ResNet',
        depth=50,
        num_stages=4,
        out_indices=(1, 2, 3),
        frozen_stages=1,
        norm_cfg=dict(type='BN', requires_grad=False),
        norm_eval=True,
        style='pytorch',
        init_cfg=dict(type='Pretrained', checkpoint='torchvision://resnet50')),
    neck=dict(
        type='ChannelMapper',
        in_channels=[512, 1024, 2048],
        kernel_size=1,
        out_channels=embed_dims,
        act_cfg=None,
        norm_cfg=dict(type='GN', num_groups=32),
        num_outs=4),
    encoder=dict(  # DeformableDetrTransformerEncoder
        num_layers=6,
        layer_cfg=dict(
            self_attn_cfg=dict(embed_dims=embed_dims, batch_first=True),
            ffn_cfg=dict(
                embed_dims=embed_dims,
                feedforward_channels=4 * embed_dims,
                ffn_drop=0.1))),
    decoder=dict(  # DeformableDetrTransformerDecoder (location decoder)
        num_layers=6,
        return_intermediate=True,
        layer_cfg=dict(
            self_attn_cfg=dict(
                embed_dims=embed_dims,
                num_heads=8,
                # mmcv's deprecated dropout=0.1 spelt out (it would write 0.1
                # into MultiheadAttention's default dropout_layer dict)
                attn_drop=0.1,
                dropout_layer=dict(type='Dropout', drop_prob=0.1),
                batch_first=True),
            cross_attn_cfg=dict(embed_dims=embed_dims, batch_first=True),
            ffn_cfg=dict(
                embed_dims=embed_dims,
                feedforward_channels=4 * embed_dims,
                ffn_drop=0.1)),
        post_norm_cfg=None),
    positional_encoding=dict(
        num_feats=embed_dims // 2, normalize=True, offset=-0.5),
    bbox_head=dict(
        type='PanopticSegFormerHead',
        num_things_classes=num_things_classes,
        num_stuff_classes=num_stuff_classes,
        embed_dims=embed_dims,
        sync_cls_avg_factor=True,
        thing_mask_decoder=dict(
            type='PanopticSegFormerMaskDecoder',
            num_layers=4,
            num_heads=8,
            num_levels=3),
        stuff_mask_decoder=dict(
            type='PanopticSegFormerMaskDecoder',
            num_layers=6,
            num_heads=8,
            num_levels=3,
            self_attn=True),
        loss_cls=dict(
            type='FocalLoss',
            use_sigmoid=True,
            gamma=2.0,
            alpha=0.25,
            loss_weight=2.0),
        loss_bbox=dict(type='L1Loss', loss_weight=5.0),
        loss_iou=dict(type='GIoULoss', loss_weight=2.0),
        loss_mask=dict(
            type='DiceLoss',
            use_sigmoid=False,
            activate=False,
            naive_dice=False,
            loss_weight=2.0),
        loss_stuff_cls=dict(
            type='FocalLoss',
            use_sigmoid=True,
            gamma=2.0,
            alpha=0.25,
            loss_weight=4.0)),
    train_cfg=dict(
        assigner=dict(type='HungarianAssigner', match_costs=location_costs),
        filter_assigner=dict(
            type='FilterHungarianAssigner',
            match_costs=location_costs,
            max_pos=3),
        mask_assigner=dict(
            type='HungarianAssigner',
            match_costs=location_costs +
            [dict(type='DiceCost', weight=2.0, naive_dice=False)])),
    test_cfg=dict(
        max_per_img=100,
        mask_thr=0.5,
        score_thrs=(0.25, 0.25),  # (things, stuff)
        overlap_thrs=(0.4, 0.2)))

optim_wrapper = dict(
    type='OptimWrapper',
    optimizer=dict(type='AdamW', lr=1.4e-4, weight_decay=1e-4),
    clip_grad=dict(max_norm=0.1, norm_type=2),
    paramwise_cfg=dict(
        custom_keys={
            'backbone': dict(lr_mult=0.1),
            'sampling_offsets': dict(lr_mult=0.1),
            'reference_points': dict(lr_mult=0.1)
        }))
