"""The released OneFormer optimiser rules as an mmengine optimiser constructor.

detectron2's OneFormer trainer gives every parameter its own group:
- learning rate x ``backbone_lr_mult`` (0.1) when its module's name contains
  ``backbone``;
- weight decay 0 for the parameters of normalisation layers and of
  ``nn.Embedding`` modules (the query and level tables, the learnable text
  contexts, CLIP's token table), and for parameters whose name contains one of
  ``no_decay_names`` (Swin's relative position tables and absolute position
  embedding).

One exception to the embedding rule: the released pixel decoder keeps its
per-level embedding (``transformer.level_embed``) as a bare ``nn.Parameter``,
not an ``nn.Embedding``, so the released rules DO decay it. mmdet's
``MSDeformAttnPixelDecoder`` holds the same table as an ``nn.Embedding``
(``level_encoding``); it is listed in ``decay_embed_names`` and decays. The
masked decoder's ``level_embed`` and ``query_embed`` are ``nn.Embedding``
modules in the release too and get no decay.

mmengine's ``custom_keys`` apply only the longest matching key, so "backbone
and a norm" cannot be said with them (a backbone LayerNorm would either decay
or lose the 0.1 multiplier); this constructor states the rules directly.
"""
from typing import List, Optional

from mmengine.optim import DefaultOptimWrapperConstructor
from torch import nn
from torch.nn.modules.batchnorm import _BatchNorm
from torch.nn.modules.instancenorm import _InstanceNorm

from mmdet.registry import OPTIM_WRAPPER_CONSTRUCTORS

NORM_TYPES = (_BatchNorm, _InstanceNorm, nn.GroupNorm, nn.LayerNorm,
              nn.LocalResponseNorm)
NO_DECAY_NAMES = ('relative_position_bias_table', 'absolute_pos_embed')
# nn.Embedding modules that stand in for released bare parameters (which decay)
DECAY_EMBED_NAMES = ('pixel_decoder.level_encoding', )


def _matches(module_name: str, names) -> bool:
    """Whether the dotted ``module_name`` is, or ends with, one of ``names``."""
    return any(module_name == n or module_name.endswith('.' + n)
               for n in names)


@OPTIM_WRAPPER_CONSTRUCTORS.register_module()
class OneFormerOptimWrapperConstructor(DefaultOptimWrapperConstructor):
    """``paramwise_cfg`` keys:

    - ``backbone_lr_mult`` (float): 0.1 (SOLVER.BACKBONE_MULTIPLIER).
    - ``norm_decay_mult`` / ``embed_decay_mult`` (float): 0.0
      (SOLVER.WEIGHT_DECAY_NORM / WEIGHT_DECAY_EMBED, as multipliers).
    - ``no_decay_names`` (tuple[str]): parameter name parts without decay.
    - ``decay_norm_types`` (tuple[str]): class names of normalisation layers
      that DO decay, for backbones whose released norms are not torch norm
      classes (the released ConvNeXt's own LayerNorm).
    - ``decay_embed_names`` (tuple[str]): ``nn.Embedding`` modules (a module
      name or its dotted tail) that DO decay, as plain parameters: the pixel
      decoder's ``level_encoding`` (``DECAY_EMBED_NAMES``).
    """

    def __init__(self, optim_wrapper_cfg: dict,
                 paramwise_cfg: Optional[dict] = None) -> None:
        # a non-empty paramwise_cfg makes mmengine call add_params
        paramwise_cfg = {'backbone_lr_mult': 0.1, **(paramwise_cfg or {})}
        super().__init__(optim_wrapper_cfg, paramwise_cfg)

    def add_params(self, params: List[dict], module: nn.Module,
                   prefix: str = '', **kwargs) -> None:
        cfg = self.paramwise_cfg
        lr_mult = cfg.get('backbone_lr_mult', 0.1)
        norm_mult = cfg.get('norm_decay_mult', 0.0)
        embed_mult = cfg.get('embed_decay_mult', 0.0)
        no_decay = tuple(cfg.get('no_decay_names', NO_DECAY_NAMES))
        decay_norms = tuple(cfg.get('decay_norm_types', ()))
        decay_embeds = tuple(cfg.get('decay_embed_names', DECAY_EMBED_NAMES))
        seen = set()
        for module_name, mod in module.named_modules(prefix=prefix):
            is_norm = isinstance(mod, NORM_TYPES) and \
                type(mod).__name__ not in decay_norms
            for name, param in mod.named_parameters(recurse=False):
                if not param.requires_grad or id(param) in seen:
                    continue
                seen.add(id(param))
                group = dict(params=[param], lr=self.base_lr)
                if 'backbone' in module_name:
                    group['lr'] = self.base_lr * lr_mult
                if self.base_wd is not None:
                    decay = 1.0
                    if any(part in name for part in no_decay):
                        decay = 0.0
                    if is_norm:
                        decay = norm_mult
                    if isinstance(mod, nn.Embedding) and \
                            not _matches(module_name, decay_embeds):
                        decay = embed_mult
                    group['weight_decay'] = self.base_wd * decay
                params.append(group)
