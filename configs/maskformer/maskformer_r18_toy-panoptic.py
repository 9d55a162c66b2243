# MaskFormer (Cheng et al. 2021; paper Tables 1 and 3, "individual training") on the
# bundled toy dataset: mmdet's MaskFormer (transformer-encoder pixel decoder, DETR
# decoder, focal + dice mask losses) at the toy scale of configs/oneformer_r18_toy.py
# (ResNet-18 from scratch, 64-d, 20 queries, 3 decoder layers), trained on panoptic
# targets with the same data, optimizer and schedule as
# ../mask2former/mask2former_r18_toy-panoptic.py. One test run gives PQ, mask AP and
# mIoU (SemanticMaskFormerFusionHead).
_base_ = ['../mask2former/mask2former_r18_toy-panoptic.py']

embed_dims = 64
# mmcv's deprecated `dropout=0.1` spelt out: it would write 0.1 into the default
# dropout_layer dict of mmcv's MultiheadAttention, the default of every later one
attn = dict(embed_dims=embed_dims, num_heads=4, attn_drop=0.1,
            dropout_layer=dict(type='Dropout', drop_prob=0.1), batch_first=True)
ffn = dict(embed_dims=embed_dims, feedforward_channels=256, num_fcs=2,
           ffn_drop=0.1, act_cfg=dict(type='ReLU', inplace=True))
positional_encoding = dict(num_feats=embed_dims // 2, normalize=True)

model = dict(
    type='MaskFormer',
    panoptic_head=dict(
        _delete_=True,
        type='MaskFormerHead',
        in_channels=[64, 128, 256, 512],
        feat_channels=embed_dims,
        out_channels=embed_dims,
        num_things_classes=_base_.num_things_classes,
        num_stuff_classes=_base_.num_stuff_classes,
        num_queries=_base_.num_queries,
        pixel_decoder=dict(
            type='TransformerEncoderPixelDecoder',
            norm_cfg=dict(type='GN', num_groups=32),
            act_cfg=dict(type='ReLU'),
            encoder=dict(
                num_layers=2,
                layer_cfg=dict(self_attn_cfg=attn, ffn_cfg=ffn)),
            positional_encoding=positional_encoding),
        enforce_decoder_input_project=False,
        positional_encoding=positional_encoding,
        transformer_decoder=dict(
            num_layers=3,
            layer_cfg=dict(self_attn_cfg=attn, cross_attn_cfg=attn, ffn_cfg=ffn),
            return_intermediate=True),
        # mmdet's MaskFormer losses
        loss_cls=dict(
            type='CrossEntropyLoss',
            use_sigmoid=False,
            loss_weight=1.0,
            reduction='mean',
            class_weight=[1.0] * _base_.num_classes + [0.1]),
        loss_mask=dict(
            type='FocalLoss',
            use_sigmoid=True,
            gamma=2.0,
            alpha=0.25,
            reduction='mean',
            loss_weight=20.0),
        loss_dice=dict(
            type='DiceLoss',
            use_sigmoid=True,
            activate=True,
            reduction='mean',
            naive_dice=True,
            eps=1.0,
            loss_weight=1.0)),
    train_cfg=dict(
        _delete_=True,
        assigner=dict(
            type='HungarianAssigner',
            match_costs=[
                dict(type='ClassificationCost', weight=1.0),
                dict(type='FocalLossCost', weight=20.0, binary_input=True),
                dict(type='DiceCost', weight=1.0, pred_act=True, eps=1.0)
            ]),
        sampler=dict(type='MaskPseudoSampler')),
    # MaskFormer's panoptic inference keeps low-score pixels
    test_cfg=dict(filter_low_score=False))
