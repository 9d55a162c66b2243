"""Backbone key mappings, pluggable by name.

Each mapping translates Hugging Face backbone keys to the released detectron2
layout (``hf_rules``) and the detectron2 layout to the mmdet backbone
(``d2_rules``), so both converters share the second step. ``hf_pre`` may
prepare the HF state dict before renaming (e.g. fuse split projections);
``post`` may fix up the converted ``backbone.*`` tensors (e.g. reorder or add
buffers).
"""
from dataclasses import dataclass
from typing import Callable, Dict, Optional

import re

import torch

from .rules import BN, WB, Rules, StateDict, merge_qkv


@dataclass(frozen=True)
class BackboneMapping:
    hf_rules: Rules
    d2_rules: Rules
    post: Optional[Callable[[StateDict], StateDict]] = None
    hf_pre: Optional[Callable[[StateDict], StateDict]] = None


def add_bn_counters(state_dict: StateDict) -> StateDict:
    """Add ``num_batches_tracked`` to BN layers whose source lacks it.

    detectron2's FrozenBatchNorm2d has no counter; mmdet's ResNet uses
    BatchNorm2d (frozen by ``requires_grad=False`` / ``norm_eval``).
    """
    out = dict(state_dict)
    for key in state_dict:
        if key.endswith('.running_var'):
            counter = key[:-len('running_var')] + 'num_batches_tracked'
            out.setdefault(counter, torch.tensor(0, dtype=torch.long))
    return out


def _renumber(template: str, **offsets: int):
    """Target filling ``template`` with the named groups of the match;
    the groups named in ``offsets`` are integers shifted by them."""

    def target(m):
        return template.format(**{
            k: int(v) + offsets[k] if k in offsets else v
            for k, v in m.groupdict().items()
        })

    return target


_HF = r'pixel_level_module\.encoder\.'
_HF_BLOCK = _HF + r'encoder\.stages\.(?P<s>\d+)\.layers\.(?P<b>\d+)\.'
_D2_BLOCK = r'backbone\.res(?P<s>\d)\.(?P<b>\d+)\.'
_BN = f'(?P<p>{BN})'

# HF ResNet stages 0-3 / layers 0-2 = detectron2 res2-5 / conv1-3.
RESNET = BackboneMapping(
    hf_rules=[
        (_HF + r'embedder\.embedder\.convolution\.weight',
         'backbone.stem.conv1.weight'),
        (_HF + r'embedder\.embedder\.normalization\.' + _BN,
         _renumber('backbone.stem.conv1.norm.{p}')),
        (_HF_BLOCK + r'shortcut\.convolution\.weight',
         _renumber('backbone.res{s}.{b}.shortcut.weight', s=2)),
        (_HF_BLOCK + r'shortcut\.normalization\.' + _BN,
         _renumber('backbone.res{s}.{b}.shortcut.norm.{p}', s=2)),
        (_HF_BLOCK + r'layer\.(?P<k>\d)\.convolution\.weight',
         _renumber('backbone.res{s}.{b}.conv{k}.weight', s=2, k=1)),
        (_HF_BLOCK + r'layer\.(?P<k>\d)\.normalization\.' + _BN,
         _renumber('backbone.res{s}.{b}.conv{k}.norm.{p}', s=2, k=1)),
    ],
    d2_rules=[
        (r'backbone\.stem\.conv1\.weight', 'backbone.conv1.weight'),
        (r'backbone\.stem\.conv1\.norm\.' + _BN,
         _renumber('backbone.bn1.{p}')),
        (_D2_BLOCK + r'conv(?P<k>\d)\.weight',
         _renumber('backbone.layer{s}.{b}.conv{k}.weight', s=-1)),
        (_D2_BLOCK + r'conv(?P<k>\d)\.norm\.' + _BN,
         _renumber('backbone.layer{s}.{b}.bn{k}.{p}', s=-1)),
        (_D2_BLOCK + r'shortcut\.weight',
         _renumber('backbone.layer{s}.{b}.downsample.0.weight', s=-1)),
        (_D2_BLOCK + r'shortcut\.norm\.' + _BN,
         _renumber('backbone.layer{s}.{b}.downsample.1.{p}', s=-1)),
    ],
    post=add_bn_counters)


def _merging_to_unfold_order(tensor: torch.Tensor) -> torch.Tensor:
    """Reorder the input channels (last dim) of a Swin patch merging layer.

    The released (timm) Swin concatenates the 2x2 neighbours as four blocks
    of C channels, (row, col) = (0, 0), (1, 0), (0, 1), (1, 1). mmdet's
    ``PatchMerging`` gathers them with ``nn.Unfold``: its channel ``4c + k``
    is channel ``c`` at kernel position ``k`` of (0, 0), (0, 1), (1, 0),
    (1, 1). So unfold position k reads released block [0, 2, 1, 3][k].
    """
    *lead, channels = tensor.shape
    blocks = tensor.reshape(*lead, 4, channels // 4)[..., [0, 2, 1, 3], :]
    return blocks.transpose(-1, -2).reshape(*lead, channels)


_MERGING = re.compile(r'backbone\.stages\.\d+\.downsample\.'
                      r'(reduction\.weight|norm\.weight|norm\.bias)')


def _relative_position_index(window: int) -> torch.Tensor:
    """Index into the ``(2w-1)^2`` bias table for every pair of the w*w
    window positions (row-major): (dy + w-1) * (2w-1) + (dx + w-1)."""
    rows, cols = torch.meshgrid(
        torch.arange(window), torch.arange(window), indexing='ij')
    rows, cols = rows.flatten(), cols.flatten()
    d_rows = rows[:, None] - rows[None, :] + window - 1
    d_cols = cols[:, None] - cols[None, :] + window - 1
    return (d_rows * (2 * window - 1) + d_cols).contiguous()


def swin_post(state_dict: StateDict) -> StateDict:
    """Fix up mmdet ``SwinTransformer`` tensors.

    Patch merging tensors go to the channel order of its ``nn.Unfold`` (the
    reorder of mmdet's swin converter); each window attention gets the
    ``relative_position_index`` buffer that mmdet builds itself (the source
    buffer is dropped), sized from its bias table.
    """
    out = {}
    for key, value in state_dict.items():
        out[key] = _merging_to_unfold_order(value) if _MERGING.fullmatch(
            key) else value
        suffix = 'relative_position_bias_table'
        if key.startswith('backbone.') and key.endswith('w_msa.' + suffix):
            window = (round(value.shape[0]**0.5) + 1) // 2
            out[key[:-len(suffix)] + 'relative_position_index'] = \
                _relative_position_index(window)
    return out


def fuse_hf_swin_qkv(state_dict: StateDict) -> StateDict:
    """HF Swin splits the window attention's qkv Linear into query, key and
    value; the release keeps one ``qkv`` (q, k, v stacked in that order)."""
    return merge_qkv(
        state_dict, '(' + _HF + r'encoder\.layers\.\d+\.blocks\.\d+\.'
        r'attention\.self)\.([qkv])(?:uery|ey|alue)\.(weight|bias)',
        '{prefix}.qkv.{param}')


_HF_SWIN_BLOCK = _HF + r'encoder\.layers\.(\d+)\.blocks\.(\d+)\.'
_D2_SWIN_BLOCK = r'backbone\.layers\.(\d+)\.blocks\.(\d+)\.'
_SWIN_BLOCK_TABLE = r'relative_position_(bias_table|index)'

# HF Swin (layers / blocks, stage{n} output norms) = released D2SwinTransformer
# (timm names, norm{n-1} output norms); the patch merging order is the same.
# The window attention's query/key/value are fused by ``fuse_hf_swin_qkv``.
SWIN = BackboneMapping(
    hf_rules=[
        (_HF + r'embeddings\.patch_embeddings\.projection\.' + WB,
         r'backbone.patch_embed.proj.\1'),
        (_HF + r'embeddings\.norm\.' + WB, r'backbone.patch_embed.norm.\1'),
        *[(_HF_SWIN_BLOCK + src + r'\.' + WB,
           r'backbone.layers.\1.blocks.\2.' + dst + r'.\3')
          for src, dst in (('layernorm_before', 'norm1'),
                           (r'attention\.self\.qkv', 'attn.qkv'),
                           (r'attention\.output\.dense', 'attn.proj'),
                           ('layernorm_after', 'norm2'),
                           (r'intermediate\.dense', 'mlp.fc1'),
                           (r'output\.dense', 'mlp.fc2'))],
        (_HF_SWIN_BLOCK + r'attention\.self\.' + _SWIN_BLOCK_TABLE,
         r'backbone.layers.\1.blocks.\2.attn.relative_position_\3'),
        (_HF + r'encoder\.layers\.(\d+)\.downsample\.'
         r'(reduction\.weight|norm\.' + WB + ')',
         r'backbone.layers.\1.downsample.\2'),
        (_HF + r'hidden_states_norms\.stage(?P<n>\d)\.(?P<p>weight|bias)',
         _renumber('backbone.norm{n}.{p}', n=-1)),
    ],
    d2_rules=[
        (r'backbone\.patch_embed\.proj\.' + WB,
         r'backbone.patch_embed.projection.\1'),
        (r'backbone\.patch_embed\.norm\.' + WB,
         r'backbone.patch_embed.norm.\1'),
        *[(_D2_SWIN_BLOCK + re.escape(src) + r'\.' + WB,
           r'backbone.stages.\1.blocks.\2.' + dst + r'.\3')
          for src, dst in (('norm1', 'norm1'), ('attn.qkv', 'attn.w_msa.qkv'),
                           ('attn.proj', 'attn.w_msa.proj'),
                           ('norm2', 'norm2'), ('mlp.fc1', 'ffn.layers.0.0'),
                           ('mlp.fc2', 'ffn.layers.1'))],
        (_D2_SWIN_BLOCK + r'attn\.relative_position_bias_table',
         r'backbone.stages.\1.blocks.\2.attn.w_msa.'
         'relative_position_bias_table'),
        # a buffer that mmdet's WindowMSA computes itself
        (_D2_SWIN_BLOCK + r'attn\.relative_position_index', None),
        (r'backbone\.layers\.(\d+)\.downsample\.'
         r'(reduction\.weight|norm\.' + WB + ')',
         r'backbone.stages.\1.downsample.\2'),
        (r'backbone\.norm(\d)\.' + WB, r'backbone.norm\1.\2'),
    ],
    post=swin_post,
    hf_pre=fuse_hf_swin_qkv)

_HF_CNX = _HF + r'encoder\.stages\.(\d+)\.'
# HF output norm of stage n (1-based) = released ``norm{n-1}``
_HF_STAGE_NORMS = (_HF + r'hidden_states_norms\.stage(?P<n>\d)\.'
                   r'(?P<p>weight|bias)', _renumber('backbone.norm{n}.{p}',
                                                   n=-1))
# ConvNeXt block modules: (HF name, released name, our / mmpretrain name)
_CONVNEXT_BLOCK = (('dwconv', 'dwconv', 'depthwise_conv'),
                   ('layernorm', 'norm', 'norm'),
                   ('pwconv1', 'pwconv1', 'pointwise_conv1'),
                   ('pwconv2', 'pwconv2', 'pointwise_conv2'))

# HF ConvNextBackbone (stem in ``embeddings``, downsampling inside stages 1-3,
# ``hidden_states_norms.stage{n}``) = released D2ConvNeXt (timm/official
# names) = our ``ConvNeXt`` (mmpretrain names). All LayerNorms keep eps 1e-6.
CONVNEXT = BackboneMapping(
    hf_rules=[
        (_HF + r'embeddings\.patch_embeddings\.' + WB,
         r'backbone.downsample_layers.0.0.\1'),
        (_HF + r'embeddings\.layernorm\.' + WB,
         r'backbone.downsample_layers.0.1.\1'),
        (_HF_CNX + r'downsampling_layer\.([01])\.' + WB,
         r'backbone.downsample_layers.\1.\2.\3'),
        *[(_HF_CNX + rf'layers\.(\d+)\.{hf}\.' + WB,
           rf'backbone.stages.\1.\2.{d2}.\3') for hf, d2, _ in _CONVNEXT_BLOCK],
        (_HF_CNX + r'layers\.(\d+)\.layer_scale_parameter',
         r'backbone.stages.\1.\2.gamma'),
        _HF_STAGE_NORMS,
    ],
    d2_rules=[
        (r'backbone\.downsample_layers\.(\d)\.([01])\.' + WB,
         r'backbone.downsample_layers.\1.\2.\3'),
        *[(rf'backbone\.stages\.(\d)\.(\d+)\.{d2}\.' + WB,
           rf'backbone.stages.\1.\2.{ours}.\3')
          for _, d2, ours in _CONVNEXT_BLOCK],
        (r'backbone\.stages\.(\d)\.(\d+)\.gamma',
         r'backbone.stages.\1.\2.gamma'),
        (r'backbone\.norm(\d)\.' + WB, r'backbone.norm\1.\2'),
    ])


def fuse_hf_dinat_qkv(state_dict: StateDict) -> StateDict:
    """HF DiNAT splits the neighbourhood attention's qkv Linear into query,
    key and value; the release keeps one ``qkv`` (q, k, v stacked)."""
    return merge_qkv(
        state_dict, '(' + _HF + r'encoder\.levels\.\d+\.layers\.\d+\.'
        r'attention\.self)\.([qkv])(?:uery|ey|alue)\.(weight|bias)',
        '{prefix}.qkv.{param}')


_HF_NAT = _HF + r'encoder\.levels\.(\d+)\.layers\.(\d+)\.'

# HF Dinat (levels / layers, split q/k/v, stage{n} output norms) = released
# D2DiNAT (NATTEN 0.14 names) = our ``DiNAT`` (the same names).
DINAT = BackboneMapping(
    hf_rules=[
        (_HF + r'embeddings\.patch_embeddings\.projection\.([01])\.' + WB,
         r'backbone.patch_embed.proj.\1.\2'),
        (_HF + r'embeddings\.norm\.' + WB, r'backbone.patch_embed.norm.\1'),
        *[(_HF_NAT + src, r'backbone.levels.\1.blocks.\2.' + dst)
          for src, dst in ((r'layernorm_before\.' + WB, r'norm1.\3'),
                           (r'attention\.self\.qkv\.' + WB, r'attn.qkv.\3'),
                           (r'attention\.self\.rpb', 'attn.rpb'),
                           (r'attention\.output\.dense\.' + WB,
                            r'attn.proj.\3'),
                           (r'layernorm_after\.' + WB, r'norm2.\3'),
                           (r'intermediate\.dense\.' + WB, r'mlp.fc1.\3'),
                           (r'output\.dense\.' + WB, r'mlp.fc2.\3'))],
        (_HF + r'encoder\.levels\.(\d+)\.downsample\.'
         r'(reduction\.weight|norm\.' + WB + ')',
         r'backbone.levels.\1.downsample.\2'),
        _HF_STAGE_NORMS,
    ],
    d2_rules=[
        (r'backbone\.(patch_embed\.(proj\.[01]|norm)\.' + WB + ')',
         r'backbone.\1'),
        (r'backbone\.(levels\.\d+\.blocks\.\d+\.'
         r'(norm[12]\.|attn\.(qkv|proj)\.|mlp\.fc[12]\.)' + WB + ')',
         r'backbone.\1'),
        (r'backbone\.(levels\.\d+\.blocks\.\d+\.attn\.rpb)', r'backbone.\1'),
        (r'backbone\.(levels\.\d+\.downsample\.'
         r'(reduction\.weight|norm\.' + WB + '))', r'backbone.\1'),
        (r'backbone\.(norm\d\.' + WB + ')', r'backbone.\1'),
    ],
    hf_pre=fuse_hf_dinat_qkv)

BACKBONES: Dict[str, BackboneMapping] = dict(
    resnet=RESNET, swin=SWIN, convnext=CONVNEXT, dinat=DINAT)


def get_backbone(name: str) -> BackboneMapping:
    if name not in BACKBONES:
        raise KeyError(f'No key mapping for backbone {name!r}; available: '
                       f'{sorted(BACKBONES)}.')
    return BACKBONES[name]
