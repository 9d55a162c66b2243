"""Tiny OneFormer models shared by the model and converter tests.

The mmdet model and the Hugging Face model describe the same architecture:
R50-shaped ResNet with base width 16, 64-d transformer, 4 heads, 2 deformable
pixel-decoder layers, 2-layer query initialiser, 9 masked decoder layers.
With ``backbone='swin'`` the backbone is a tiny Swin instead (``SWIN``: embed
32, depths 2, window 2, per-stage output norms) on both sides.
"""
from pathlib import Path

import torch
from mmengine.config import Config, ConfigDict
from mmengine.registry import init_default_scope
from mmengine.structures import InstanceData

import projects.oneformer  # noqa: F401
from mmdet.registry import MODELS
from mmdet.structures import DetDataSample

NUM_THINGS = 3
NUM_STUFF = 2
NUM_CLASSES = NUM_THINGS + NUM_STUFF
NUM_QUERIES = 12
DIMS = 64
HEADS = 4
TEXT_CTX = 4
BASE_CONFIG = Path(__file__).parents[2] / 'configs/_base_/models/' \
    'oneformer_r50.py'
#: tiny Swin: 4 stages of 2 blocks (shifted windows), widths 32..256
SWIN = dict(embed_dims=32, depths=(2, 2, 2, 2), num_heads=(1, 2, 4, 8),
            window_size=2)


def ConvNeXt(**kwargs):
    """mmpretrain's ConvNeXt as OneFormer uses it: a LayerNorm on every output
    stage (``norm0..3``)."""
    from mmpretrain.models import ConvNeXt as _ConvNeXt
    kwargs.setdefault('out_indices', (0, 1, 2, 3))
    return _ConvNeXt(gap_before_final_norm=False, **kwargs)


def _shrink_layer(layer_cfg):
    for attn in ('self_attn_cfg', 'cross_attn_cfg'):
        layer_cfg[attn].update(embed_dims=DIMS, num_heads=HEADS)
    layer_cfg.ffn_cfg.update(embed_dims=DIMS, feedforward_channels=128)


def tiny_model_cfg(text_mapper: bool = False,
                   num_things: int = NUM_THINGS,
                   backbone: str = 'resnet',
                   num_stuff: int = NUM_STUFF) -> ConfigDict:
    """The R50 base config shrunk to the tiny model (``backbone``: 'resnet'
    or 'swin')."""
    cfg = Config.fromfile(str(BASE_CONFIG)).model
    in_channels = [64, 128, 256, 512]
    if backbone == 'swin':
        cfg.backbone = ConfigDict(
            type='InfMaskSwinTransformer', **SWIN, drop_path_rate=0.,
            init_cfg=None)
        in_channels = [SWIN['embed_dims'] * 2**i for i in range(4)]
    else:
        cfg.backbone.update(base_channels=16, init_cfg=None)
    head = cfg.panoptic_head
    head.text_mapper = None
    head.loss_contrastive = None
    if text_mapper:
        head.text_mapper = dict(
            type='TextMapper',
            text_encoder=dict(width=DIMS, heads=1, layers=2),
            num_context=TEXT_CTX)
        head.loss_contrastive = dict(type='QueryTextContrastiveLoss')
    head.update(
        in_channels=in_channels,
        feat_channels=DIMS,
        out_channels=DIMS,
        num_things_classes=num_things,
        num_stuff_classes=num_stuff,
        num_queries=NUM_QUERIES)
    head.loss_cls.class_weight = [1.0] * (num_things + num_stuff) + [0.1]
    pixel_decoder = head.pixel_decoder
    pixel_decoder.encoder.num_layers = 2
    pixel_decoder.encoder.layer_cfg.self_attn_cfg.update(
        embed_dims=DIMS, num_heads=HEADS)
    pixel_decoder.encoder.layer_cfg.ffn_cfg.update(
        embed_dims=DIMS, feedforward_channels=128)
    _shrink_layer(head.query_initialiser.decoder.layer_cfg)
    _shrink_layer(head.transformer_decoder.layer_cfg)
    for pos in (pixel_decoder, head, head.query_initialiser):
        pos.positional_encoding.num_feats = DIMS // 2
    cfg.panoptic_fusion_head.update(
        num_things_classes=num_things, num_stuff_classes=num_stuff)
    cfg.train_cfg.num_points = 64
    # each test chooses its task(s); the base config runs all three
    cfg.test_cfg.tasks = None
    return cfg


def build_tiny_model(**kwargs):
    """Tiny mmdet OneFormer in eval mode, weights initialised."""
    init_default_scope('mmdet')
    model = MODELS.build(tiny_model_cfg(**kwargs))
    model.init_weights()
    return model.eval()


def tiny_hf_model(seed: int = 0, backbone: str = 'resnet', id2label=None):
    """Tiny HF ``OneFormerForUniversalSegmentation`` (eval) and its config.

    Built with ``is_training=True`` so the state dict has the text mapper,
    then switched to inference (HF's training forward needs texts). Every
    tensor gets noise so no weight is a trivially symmetric zero/one.
    ``id2label`` (class id -> name) defaults to ``NUM_CLASSES`` 'class{i}'.
    """
    from transformers import (OneFormerConfig,
                              OneFormerForUniversalSegmentation, ResNetConfig,
                              SwinConfig)
    torch.manual_seed(seed)
    stages = ['stage1', 'stage2', 'stage3', 'stage4']
    if backbone == 'swin':
        backbone_config = SwinConfig(
            embed_dim=SWIN['embed_dims'],
            depths=list(SWIN['depths']),
            num_heads=list(SWIN['num_heads']),
            window_size=SWIN['window_size'],
            drop_path_rate=0.0,
            out_features=stages)
    else:
        backbone_config = ResNetConfig(
            embedding_size=16,
            hidden_sizes=[64, 128, 256, 512],
            depths=[3, 4, 6, 3],
            layer_type='bottleneck',
            out_features=stages)
    config = OneFormerConfig(
        backbone_config=backbone_config,
        num_queries=NUM_QUERIES,
        num_attention_heads=HEADS,
        # every transformer is DIMS wide, every FFN 128
        **dict.fromkeys(
            ('hidden_dim', 'conv_dim', 'mask_dim', 'text_encoder_width'),
            DIMS),
        **dict.fromkeys(('dim_feedforward', 'encoder_feedforward_dim'), 128),
        encoder_layers=2,
        decoder_layers=10,
        query_dec_layers=2,
        dropout=0.0,
        text_encoder_num_layers=2,
        text_encoder_n_ctx=TEXT_CTX,
        is_training=True,
        id2label=id2label or {i: f'class{i}'
                              for i in range(NUM_CLASSES)})
    model = OneFormerForUniversalSegmentation(config)
    with torch.no_grad():
        for name, tensor in model.state_dict().items():
            if name.endswith('running_var'):
                tensor.uniform_(0.5, 1.5)
            elif tensor.is_floating_point():
                tensor.add_(torch.randn_like(tensor) * 0.05)
    model.model.is_training = False
    return model.eval()


def hf_prediction_diffs(hf, ours, images, tasks):
    """Max abs differences of all 10 class/mask predictions and the
    contrastive queries of ``ours`` and the HF model (and the HF output).

    The prediction shapes must be equal; masks are at 1/4 resolution.
    """
    with torch.no_grad():
        hf_out = hf(
            pixel_values=images,
            task_inputs=ours.panoptic_head.task_encoder.tokenize(tasks).float(),
            output_auxiliary_logits=True)
        cls_preds, mask_preds, queries = ours.panoptic_head(
            ours.extract_feat(images), tasks)
    hf_preds = [*hf_out.auxiliary_predictions, hf_out]
    assert len(cls_preds) == len(hf_preds) == 10
    mask_shape = (len(tasks), NUM_QUERIES, *(s // 4 for s in images.shape[2:]))
    diffs = {}
    for i, (cls, mask, hf_pred) in enumerate(
            zip(cls_preds, mask_preds, hf_preds)):
        assert mask.shape == hf_pred['masks_queries_logits'].shape \
            == mask_shape
        diffs[f'cls{i}'] = (cls - hf_pred['class_queries_logits']).abs().max(
        ).item()
        diffs[f'mask{i}'] = (mask - hf_pred['masks_queries_logits']).abs(
        ).max().item()
    diffs['queries'] = (
        queries -
        hf_out.transformer_decoder_contrastive_queries).abs().max().item()
    return diffs, hf_out


def data_samples(num_imgs: int,
                 pad_shape,
                 img_shape=None,
                 ori_shape=None,
                 tasks=None):
    """Data samples with image metas (and a task per image if given)."""
    samples = []
    for i in range(num_imgs):
        meta = dict(
            batch_input_shape=tuple(pad_shape),
            pad_shape=tuple(pad_shape),
            img_shape=tuple(img_shape or pad_shape),
            ori_shape=tuple(ori_shape or img_shape or pad_shape))
        if tasks is not None:
            meta['task'] = tasks[i]
        sample = DetDataSample(metainfo=meta)
        sample.gt_instances = InstanceData()
        samples.append(sample)
    return samples
