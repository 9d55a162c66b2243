"""Tiny versions of the mmseg OneFormer configs, as --cfg-options style dicts.

The architecture is that of tests/test_models/tiny_oneformer.py (R50 layout
with base width 16, 64-d transformer, 4 heads, FFN 128, 2 deformable layers),
so weights of the tiny mmdet model load into the tiny mmseg segmentor.
"""
from pathlib import Path

from mmengine.config import Config
from mmengine.registry import init_default_scope

import projects.oneformer  # noqa: F401
from mmseg.registry import MODELS
from tests.test_models.tiny_oneformer import DIMS, HEADS, NUM_QUERIES, TEXT_CTX

ROOT = Path(__file__).parents[2]
R50_ADE20K = ROOT / 'configs/mmseg/oneformer_r50_8xb2-160k_ade20k-512x512.py'
# Every width-like key of the decode head, wherever it is nested.
_WIDTHS = dict(
    embed_dims=DIMS, feedforward_channels=128, num_feats=DIMS // 2,
    num_heads=HEADS)


def _width_options(node, prefix):
    for key, value in node.items():
        path = f'{prefix}.{key}'
        if isinstance(value, dict):
            yield from _width_options(value, path)
        elif key in _WIDTHS:
            yield path, _WIDTHS[key]


def tiny_options(config=R50_ADE20K,
                 text_mapper: bool = True,
                 num_decoder_layers: int = 9,
                 num_classes: int = 150) -> dict:
    """Dotted overrides (``Config.merge_from_dict`` / ``--cfg-options``)."""
    head = Config.fromfile(str(config)).model.decode_head
    head.pop('text_mapper')  # sized below, or dropped
    options = dict(_width_options(head, 'model.decode_head'))
    options.update({
        'model.backbone.base_channels': 16,
        'model.backbone.stem_channels': 16,
        'model.backbone.init_cfg': None,
        'model.decode_head.in_channels': [64, 128, 256, 512],
        'model.decode_head.feat_channels': DIMS,
        'model.decode_head.out_channels': DIMS,
        'model.decode_head.num_queries': NUM_QUERIES,
        'model.decode_head.pixel_decoder.encoder.num_layers': 2,
        'model.decode_head.transformer_decoder.num_layers':
        num_decoder_layers,
        'model.decode_head.train_cfg.num_points': 64,
    })
    if num_classes != 150:
        options.update({
            'model.decode_head.num_classes': num_classes,
            'model.decode_head.loss_cls.class_weight':
            [1.0] * num_classes + [0.1],
            'model.decode_head.class_names':
            [f'class{i}' for i in range(num_classes)],
        })
    if text_mapper:
        # as in tiny_oneformer.tiny_model_cfg(text_mapper=True)
        options.update({
            'model.decode_head.text_mapper.num_context': TEXT_CTX,
            'model.decode_head.text_mapper.text_encoder.width': DIMS,
            'model.decode_head.text_mapper.text_encoder.heads': 1,
            'model.decode_head.text_mapper.text_encoder.layers': 2,
        })
    else:
        options.update({
            'model.decode_head.text_mapper': None,
            'model.decode_head.loss_contrastive': None,
        })
    return options


def tiny_config(**kwargs) -> Config:
    """The R50 ADE20K config with :func:`tiny_options` applied."""
    cfg = Config.fromfile(str(R50_ADE20K))
    cfg.merge_from_dict(tiny_options(**kwargs))
    return cfg


def build_segmentor(**kwargs):
    """Tiny mmseg ``EncoderDecoder`` in eval mode (PyTorch's initialisation;
    mmengine's init_weights is slow and logs every tensor)."""
    init_default_scope('mmseg')
    return MODELS.build(tiny_config(**kwargs).model).eval()
