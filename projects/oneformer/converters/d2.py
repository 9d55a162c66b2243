"""Released detectron2 OneFormer checkpoints -> mmdet ``OneFormer``."""
from typing import Optional, Tuple

import numpy as np
import torch

from projects.common.converters import (ATTN, WB, ConversionReport, Rules,
                                        StateDict, get_backbone, part_rules,
                                        rename, seq_linear)
from .core import retarget

_PD = r'sem_seg_head\.pixel_decoder\.'
_PR = r'sem_seg_head\.predictor\.'
_PIX = 'panoptic_head.pixel_decoder.'
_HEAD = 'panoptic_head.'
_QI = 'panoptic_head.query_initialiser.decoder.'
_TD = 'panoptic_head.transformer_decoder.'

# detectron2 layer part -> mmdet layer part, per layer type
_FFN = (('linear1', 'ffn.layers.0.0', WB), ('linear2', 'ffn.layers.1', WB))


def _norms(num: int) -> tuple:
    return tuple((f'norm{j + 1}', f'norms.{j}', WB) for j in range(num))


_ENCODER_LAYER = tuple(
    (f'self_attn.{name}', f'self_attn.{name}', WB)
    for name in ('sampling_offsets', 'attention_weights', 'value_proj',
                 'output_proj')) + _FFN + _norms(2)
_DETR_LAYER = (('self_attn', 'self_attn.attn', ATTN),
               ('multihead_attn', 'cross_attn.attn', ATTN)) + _FFN + _norms(3)
# The release keeps one module list per sublayer kind; mmdet one layer with
# cross-attn, self-attn, FFN (norms 0, 1, 2).
_MASKED_LAYER = dict(
    cross_attention=(('multihead_attn', 'cross_attn.attn', ATTN),
                     ('norm', 'norms.0', WB)),
    self_attention=(('self_attn', 'self_attn.attn', ATTN),
                    ('norm', 'norms.1', WB)),
    ffn=_FFN + (('norm', 'norms.2', WB), ))

# Non-backbone keys of the released detectron2 layout (checkpoint["model"]).
D2_RULES: Rules = [
    # pixel decoder
    (_PD + r'input_proj\.(\d+)\.0\.' + WB, _PIX + r'input_convs.\1.conv.\2'),
    (_PD + r'input_proj\.(\d+)\.1\.' + WB, _PIX + r'input_convs.\1.gn.\2'),
    (_PD + r'transformer\.level_embed', _PIX + 'level_encoding.weight'),
    *part_rules(_PD + r'transformer\.encoder\.layers\.(\d+)\.',
                _PIX + r'encoder.layers.\1.', _ENCODER_LAYER),
    (_PD + r'adapter_1\.weight', _PIX + 'lateral_convs.0.conv.weight'),
    (_PD + r'adapter_1\.norm\.' + WB, _PIX + r'lateral_convs.0.gn.\1'),
    (_PD + r'layer_1\.weight', _PIX + 'output_convs.0.conv.weight'),
    (_PD + r'layer_1\.norm\.' + WB, _PIX + r'output_convs.0.gn.\1'),
    (_PD + r'mask_features\.' + WB, _PIX + r'mask_feature.\1'),
    # query initialiser ("class transformer")
    *part_rules(_PR + r'class_transformer\.decoder\.layers\.(\d+)\.',
                _QI + r'layers.\1.', _DETR_LAYER),
    (_PR + r'class_transformer\.decoder\.norm\.' + WB, _QI + r'post_norm.\1'),
    (_PR + r'class_input_proj\.' + WB,
     _HEAD + r'query_initialiser.class_input_proj.\1'),
    # masked-attention decoder and prediction heads
    *[rule for kind, parts in _MASKED_LAYER.items()
      for rule in part_rules(_PR + rf'transformer_{kind}_layers\.(\d+)\.',
                             _TD + r'layers.\1.', parts)],
    (_PR + r'decoder_norm\.' + WB, _TD + r'post_norm.\1'),
    (_PR + r'(query_embed|level_embed)\.weight', _HEAD + r'\1.weight'),
    (_PR + r'input_proj\.(\d+)\.' + WB, _HEAD + r'decoder_input_projs.\1.\2'),
    (_PR + r'class_embed\.' + WB, _HEAD + r'cls_embed.\1'),
    (_PR + r'mask_embed\.layers\.(\d)\.' + WB,
     seq_linear(_HEAD + 'mask_embed.{i}.{p}')),
    # task token, text mapper
    (r'task_mlp\.layers\.(\d)\.' + WB,
     seq_linear(_HEAD + 'task_encoder.mlp.{i}.{p}')),
    (r'text_encoder\.(.+)', _HEAD + r'text_mapper.text_encoder.\1'),
    (r'text_projector\.layers\.(\d)\.' + WB,
     seq_linear(_HEAD + 'text_mapper.text_projector.{i}.{p}')),
    (r'prompt_ctx\.weight', _HEAD + 'text_mapper.prompt_ctx.weight'),
    # Loss state: the learnable contrastive temperature is kept; the
    # no-object weight comes from the config (loss_cls.class_weight).
    (r'criterion\.logit_scale', _HEAD + 'loss_contrastive.logit_scale'),
    (r'criterion\.empty_weight', None),
]


def convert_d2_state_dict(
    state_dict: StateDict,
    backbone: str = 'resnet',
    report: Optional[ConversionReport] = None,
    target: str = 'mmdet'
) -> Tuple[StateDict, ConversionReport]:
    """Rename a detectron2-layout OneFormer state dict to mmdet names.

    Args:
        state_dict (dict): The released ``checkpoint['model']``.
        backbone (str): Backbone mapping name (see ``backbones.BACKBONES``).
        report (ConversionReport, optional): Report to extend.
        target (str): 'mmdet' (the ``OneFormer`` detector) or 'mmseg'
            (``EncoderDecoder`` with ``OneFormerSegHead``); see
            ``core.TARGET_PREFIXES``.

    Returns:
        tuple: state dict of the target model and the conversion report.
    """
    report = report or ConversionReport()
    mapping = get_backbone(backbone)
    state_dict = {
        k: torch.from_numpy(v) if isinstance(v, np.ndarray) else v
        for k, v in state_dict.items()
    }
    out = rename(state_dict, list(mapping.d2_rules) + D2_RULES, report)
    report.num_mapped = len(out)
    if mapping.post is not None:
        out = mapping.post(out)
    return retarget(out, target), report


def load_d2_checkpoint(path: str) -> StateDict:
    """The weights of a detectron2 checkpoint (under ``'model'``)."""
    checkpoint = torch.load(path, map_location='cpu', weights_only=True)
    return checkpoint.get('model', checkpoint)
