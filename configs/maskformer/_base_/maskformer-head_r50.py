# MaskFormer's R50 head and matcher (mmdet's maskformer_r50 config values): a
# 6-layer transformer-encoder pixel decoder, a 6-layer DETR decoder with 100 queries,
# cross-entropy (no-object 0.1) + focal (20) + dice (1) losses. The paper configs put
# them on the Mask2Former R50 recipe of their dataset (data, optimiser, schedule), as
# ../maskformer_r18_toy-panoptic.py does at toy scale. Only new names here, so this
# file combines with any Mask2Former R50 config as a second base.
maskformer_dims = 256
# mmdet's `dropout=0.1` spelt out (mmcv's deprecated argument would write 0.1 into
# the default dropout_layer dict of MultiheadAttention, the default of every later one)
maskformer_attn = dict(embed_dims=maskformer_dims, num_heads=8, attn_drop=0.1,
                       dropout_layer=dict(type='Dropout', drop_prob=0.1),
                       batch_first=True)
maskformer_ffn = dict(embed_dims=maskformer_dims, feedforward_channels=2048,
                      num_fcs=2, ffn_drop=0.1, act_cfg=dict(type='ReLU', inplace=True))
maskformer_head = dict(
    type='MaskFormerHead',
    in_channels=[256, 512, 1024, 2048],
    feat_channels=maskformer_dims,
    out_channels=maskformer_dims,
    num_queries=100,
    pixel_decoder=dict(
        type='TransformerEncoderPixelDecoder',
        norm_cfg=dict(type='GN', num_groups=32),
        act_cfg=dict(type='ReLU'),
        encoder=dict(
            num_layers=6,
            layer_cfg=dict(self_attn_cfg=maskformer_attn, ffn_cfg=maskformer_ffn)),
        positional_encoding=dict(num_feats=maskformer_dims // 2, normalize=True)),
    enforce_decoder_input_project=False,
    positional_encoding=dict(num_feats=maskformer_dims // 2, normalize=True),
    transformer_decoder=dict(
        num_layers=6,
        layer_cfg=dict(self_attn_cfg=maskformer_attn, cross_attn_cfg=maskformer_attn,
                       ffn_cfg=maskformer_ffn),
        return_intermediate=True),
    loss_mask=dict(type='FocalLoss', use_sigmoid=True, gamma=2.0, alpha=0.25,
                   reduction='mean', loss_weight=20.0),
    loss_dice=dict(type='DiceLoss', use_sigmoid=True, activate=True,
                   reduction='mean', naive_dice=True, eps=1.0, loss_weight=1.0))
maskformer_train_cfg = dict(
    assigner=dict(
        type='HungarianAssigner',
        match_costs=[
            dict(type='ClassificationCost', weight=1.0),
            dict(type='FocalLossCost', weight=20.0, binary_input=True),
            dict(type='DiceCost', weight=1.0, pred_act=True, eps=1.0)
        ]),
    sampler=dict(type='MaskPseudoSampler'))
