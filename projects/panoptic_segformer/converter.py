"""Released Panoptic SegFormer (mmdet 2.x / mmcv 1.x) -> mmdet 3.x names.

The release keeps the Deformable DETR transformer inside the head
(``bbox_head.transformer.*``, mmcv 1.x layer naming ``attentions.0/1``,
``ffns.0``, ``norms.*``, ``level_embeds``, ``reference_points``) and the
query embedding in the head; mmdet 3.x moves them to the detector
(``encoder``/``decoder`` ``self_attn``/``cross_attn``/``ffn``,
``level_embed``, ``reference_points_fc``, ``query_embedding``). The mask
heads (``things_mask_head``/``stuff_mask_head``: ``blocks``, ``attnen``)
become :class:`PanopticSegFormerMaskDecoder` s. The thing mask decoder's
class/box branches (``cls_thing_branches``, ``reg_branches2``) are trained
with weight 0 in the release and unused at inference: dropped.
"""
import re
from typing import Tuple

import torch

from projects.common.converters import (WB, ConversionReport, Rules,
                                        StateDict, get_backbone, rename)

_H = r'bbox_head\.'
_T = _H + r'transformer\.'
_LAYER = r'(encoder|decoder)\.layers\.(\d+)\.'
_DEFORM = r'(sampling_offsets|attention_weights|value_proj|output_proj)'
_MHA = r'attn\.(in_proj_weight|in_proj_bias|out_proj\.weight|out_proj\.bias)'
_MASK_HEAD = _H + r'(?P<kind>things|stuff)_mask_head\.'
_BLOCK = _MASK_HEAD + r'blocks\.(?P<i>\d+)\.'
_TAIL = _MASK_HEAD + r'attnen\.'
_P = r'\.(?P<p>weight|bias)'


def _mask_target(template: str):
    """Target for a mask head key: ``{dec}`` is the decoder prefix,
    ``{l}`` (if any) the level index (released ``linear_l1`` = level 0)."""

    def target(m: re.Match) -> str:
        groups = m.groupdict()
        dec = 'bbox_head.{}_mask_decoder'.format(
            'thing' if groups['kind'] == 'things' else 'stuff')
        if groups.get('l') is not None:
            groups['l'] = int(groups['l']) - 1
        return template.format(dec=dec, **groups)

    return target


def _mask_attention_rules(src: str, dst: str) -> Rules:
    """The released ``Attention``/``AttentionTail`` -> ``MaskAttention``."""
    return [
        (src + r'(?P<n>[qkv])' + _P, _mask_target(dst + '.{n}_proj.{p}')),
        (src + r'proj' + _P, _mask_target(dst + '.out_proj.{p}')),
        (src + r'linear_l(?P<l>\d)\.0' + _P,
         _mask_target(dst + '.level_fcs.{l}.{p}')),
        (src + r'linear\.0' + _P, _mask_target(dst + '.fuse_fc.{p}')),
    ]


_LAYER_DST = '{dec}.layers.{i}'
PANOPTIC_SEGFORMER_RULES: Rules = [
    (r'neck\.(.*)', r'neck.\1'),  # ChannelMapper: same names
    (_T + r'level_embeds', 'level_embed'),
    (_T + r'reference_points\.' + WB, r'reference_points_fc.\1'),
    (_T + r'encoder\.layers\.(\d+)\.attentions\.0\.' + _DEFORM + r'\.' + WB,
     r'encoder.layers.\1.self_attn.\2.\3'),
    (_T + r'decoder\.layers\.(\d+)\.attentions\.0\.' + _MHA,
     r'decoder.layers.\1.self_attn.attn.\2'),
    (_T + r'decoder\.layers\.(\d+)\.attentions\.1\.' + _DEFORM + r'\.' + WB,
     r'decoder.layers.\1.cross_attn.\2.\3'),
    (_T + _LAYER + r'ffns\.0\.layers\.(0\.0|1)\.' + WB,
     r'\1.layers.\2.ffn.layers.\3.\4'),
    (_T + _LAYER + r'norms\.(\d)\.' + WB, r'\1.layers.\2.norms.\3.\4'),
    (_H + r'query_embedding\.weight', 'query_embedding.weight'),
    (_H + r'(cls_branches|cls_stuff_branches)\.(\d+)\.' + WB,
     r'bbox_head.\1.\2.\3'),
    (_H + r'reg_branches\.(\d+)\.(\d)\.' + WB, r'bbox_head.reg_branches.\1.\2.\3'),
    (_H + r'stuff_query\.weight', 'bbox_head.stuff_query.weight'),
    # zero-weighted in the released loss, unused at inference
    (_H + r'(cls_thing_branches|reg_branches2)\..*', None),
    *_mask_attention_rules(_BLOCK + r'attn\.', _LAYER_DST + '.cross_attn'),
    *_mask_attention_rules(_TAIL, '{dec}.mask_tail'),
    (_BLOCK + r'head_norm1' + _P,
     _mask_target(_LAYER_DST + '.cross_attn_norm.{p}')),
    (_BLOCK + r'head_norm2' + _P, _mask_target(_LAYER_DST + '.ffn_norm.{p}')),
    (_BLOCK + r'norm3' + _P, _mask_target(_LAYER_DST + '.self_attn_norm.{p}')),
    (_BLOCK + r'mlp\.fc1' + _P, _mask_target(_LAYER_DST + '.ffn.layers.0.0.{p}')),
    (_BLOCK + r'mlp\.fc2' + _P, _mask_target(_LAYER_DST + '.ffn.layers.1.{p}')),
    # fused q/k/v Linear = nn.MultiheadAttention's in_proj (same order)
    (_BLOCK + r'self_attention\.qkv' + _P,
     _mask_target(_LAYER_DST + '.self_attn.attn.in_proj_{p}')),
    (_BLOCK + r'self_attention\.proj' + _P,
     _mask_target(_LAYER_DST + '.self_attn.attn.out_proj.{p}')),
]

#: Released backbones: mmdet's ResNet (same names) or the original Swin.
_RESNET_RULES: Rules = [(r'backbone\.(.*)', r'backbone.\1')]


def convert_panoptic_segformer_state_dict(
        state_dict: StateDict, backbone: str = 'resnet',
        target: str = 'mmdet') -> Tuple[StateDict, ConversionReport]:
    """Rename a released ``checkpoint['state_dict']`` to the mmdet 3.x
    ``PanopticSegFormer`` (``target`` must be 'mmdet'); ``backbone`` is
    'resnet' (mmdet's ResNet: same names) or 'swin' (original Swin names,
    ``backbones.SWIN``). Returns the state dict and the key report."""
    if target != 'mmdet':
        raise ValueError('Panoptic SegFormer converts to mmdet only.')
    report = ConversionReport()
    post = None
    if backbone == 'resnet':
        backbone_rules = _RESNET_RULES
    else:
        mapping = get_backbone(backbone)
        backbone_rules, post = mapping.d2_rules, mapping.post
    out = rename(state_dict,
                 list(backbone_rules) + PANOPTIC_SEGFORMER_RULES, report)
    report.num_mapped = len(out)
    if post is not None:
        out = post(out)
    return out, report


def load_mmdet2_checkpoint(path: str) -> StateDict:
    """The weights of an mmcv 1.x checkpoint (under ``'state_dict'``)."""
    checkpoint = torch.load(path, map_location='cpu', weights_only=True)
    return checkpoint.get('state_dict', checkpoint)
