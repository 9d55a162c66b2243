"""Backbone key mappings, pluggable by name.

Each mapping translates Hugging Face backbone keys to the released detectron2
layout (``hf_rules``) and the detectron2 layout to the mmdet backbone
(``d2_rules``), so both converters share the second step. ``post`` may fix up
the converted ``backbone.*`` tensors (e.g. reorder or add buffers).
"""
from dataclasses import dataclass
from typing import Callable, Dict, Optional

import torch

from .core import BN, Rules, StateDict


@dataclass(frozen=True)
class BackboneMapping:
    hf_rules: Rules
    d2_rules: Rules
    post: Optional[Callable[[StateDict], StateDict]] = None


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

BACKBONES: Dict[str, BackboneMapping] = dict(resnet=RESNET)


def get_backbone(name: str) -> BackboneMapping:
    if name not in BACKBONES:
        raise KeyError(f'No key mapping for backbone {name!r}; available: '
                       f'{sorted(BACKBONES)}.')
    return BACKBONES[name]
