"""Hugging Face ``OneFormerForUniversalSegmentation`` -> mmdet ``OneFormer``.

The HF names are first translated to the released detectron2 layout, then
the detectron2 converter does the rest, so both share one mmdet mapping.
"""
import os.path as osp
from typing import Dict, Optional, Tuple

import torch

from projects.common.converters import (ATTN, WB, ConversionReport, Rules,
                                        StateDict, get_backbone, merge_qkv,
                                        part_rules, rename)
from .d2 import convert_d2_state_dict

_PD = r'pixel_level_module\.decoder\.'
_D2PD = 'sem_seg_head.pixel_decoder.'
_DEC = r'transformer_module\.decoder\.'
_PR = 'sem_seg_head.predictor.'
_TXT = r'text_mapper\.text_encoder\.'

# HF layer part -> detectron2 layer part
_ENCODER_LAYER = (('self_attn_layer_norm', 'norm1', WB),
                  ('fc1', 'linear1', WB),
                  ('fc2', 'linear2', WB),
                  ('final_layer_norm', 'norm2', WB))
_TEXT_BLOCK = (('self_attn', 'attn', ATTN),
               ('layer_norm1', 'ln_1', WB),
               ('layer_norm2', 'ln_2', WB),
               ('mlp.fc1', 'mlp.c_fc', WB),
               ('mlp.fc2', 'mlp.c_proj', WB))

# Non-backbone HF keys (without the leading 'model.') -> detectron2 layout.
# Part names the two share are kept loose here: the detectron2 step checks
# them.
HF_RULES: Rules = [
    # pixel decoder
    (_PD + r'input_projections\.(.+)', _D2PD + r'input_proj.\1'),
    (_PD + r'level_embed', _D2PD + 'transformer.level_embed'),
    (_PD + r'encoder\.layers\.(\d+)\.self_attn\.(.+)',
     _D2PD + r'transformer.encoder.layers.\1.self_attn.\2'),
    *part_rules(_PD + r'encoder\.layers\.(\d+)\.',
                _D2PD + r'transformer.encoder.layers.\1.', _ENCODER_LAYER),
    (_PD + r'(adapter_1|layer_1)\.0\.weight', _D2PD + r'\1.weight'),
    (_PD + r'(adapter_1|layer_1)\.1\.' + WB, _D2PD + r'\1.norm.\2'),
    (_PD + r'mask_projection\.' + WB, _D2PD + r'mask_features.\1'),
    # transformer module
    (r'transformer_module\.queries_embedder\.weight',
     _PR + 'query_embed.weight'),
    (r'transformer_module\.level_embed\.weight', _PR + 'level_embed.weight'),
    (_DEC + r'query_transformer\.(.+)', _PR + r'class_transformer.\1'),
    (_DEC + r'query_input_projection\.' + WB, _PR + r'class_input_proj.\1'),
    (_DEC + r'(decoder_norm|class_embed)\.' + WB, _PR + r'\1.\2'),
    # HF keeps a decoder layer in one module, the release one module list per
    # sublayer kind; q/k/v were fused by merge_qkv before renaming.
    *[(_DEC + rf'layers\.(\d+)\.{module}\.(.+)',
       _PR + rf'transformer_{kind}_layers.\1.\2')
      for kind, module in (('cross_attention', 'cross_attn'),
                           ('self_attention', 'self_attn'), ('ffn', 'ffn'))],
    (_DEC + r'mask_embed\.layers\.(\d)\.0\.' + WB,
     _PR + r'mask_embed.layers.\1.\2'),
    # task token, text mapper, loss state
    (r'task_encoder\.task_mlp\.layers\.(\d)\.0\.' + WB,
     r'task_mlp.layers.\1.\2'),
    *part_rules(_TXT + r'transformer\.layers\.(\d+)\.',
                r'text_encoder.transformer.resblocks.\1.', _TEXT_BLOCK),
    (_TXT + r'(positional_embedding|token_embedding\.weight|ln_final\.' + WB +
     ')', r'text_encoder.\1'),
    (r'text_mapper\.text_projector\.layers\.(\d)\.0\.' + WB,
     r'text_projector.layers.\1.\2'),
    (r'text_mapper\.prompt_ctx\.weight', 'prompt_ctx.weight'),
    (r'criterion\.(logit_scale|empty_weight)', r'criterion.\1'),
]


def _hf_prepared(state_dict: StateDict,
                 backbone: str) -> Tuple[StateDict, Rules, Dict[str, str]]:
    """The state dict ready for renaming (no 'model.' prefix, q/k/v fused,
    the backbone's pre-step done), the rules, and each key's HF name."""
    hf_names = {
        k[len('model.'):] if k.startswith('model.') else k: k
        for k in state_dict
    }
    state_dict = {
        k[len('model.'):] if k.startswith('model.') else k: v
        for k, v in state_dict.items()
    }
    # HF splits the masked decoder's self-attention into q/k/v projections.
    state_dict = merge_qkv(
        state_dict, '(' + _DEC + r'layers\.\d+\.self_attn\.self_attn)\.'
        r'([qkv])_proj\.(weight|bias)', '{prefix}.in_proj_{param}')
    mapping = get_backbone(backbone)
    if mapping.hf_pre is not None:
        state_dict = mapping.hf_pre(state_dict)
    return state_dict, list(mapping.hf_rules) + HF_RULES, hf_names


def hf_to_d2_state_dict(
    state_dict: StateDict,
    backbone: str = 'resnet',
    report: Optional[ConversionReport] = None
) -> Tuple[StateDict, ConversionReport]:
    """Translate HF OneFormer keys to the released detectron2 layout."""
    report = report or ConversionReport()
    state_dict, rules, _ = _hf_prepared(state_dict, backbone)
    return rename(state_dict, rules, report), report


def convert_hf_state_dict(
        state_dict: StateDict,
        backbone: str = 'resnet',
        target: str = 'mmdet') -> Tuple[StateDict, ConversionReport]:
    """HF OneFormer state dict -> (state dict of the ``target`` model,
    report); see ``convert_d2_state_dict`` for ``target``. The report's
    unmapped and dropped keys are HF names."""
    report = ConversionReport()
    prepared, rules, hf_names = _hf_prepared(state_dict, backbone)
    # rename the keys once, remembering each detectron2 key's source
    d2_source = rename({k: k for k in prepared}, rules, report)
    converted, report = convert_d2_state_dict(
        {d2: prepared[key] for d2, key in d2_source.items()}, backbone, report,
        target)
    # the detectron2 step names what it cannot map by its detectron2 key
    d2_to_hf = {d2: hf_names.get(key, key) for d2, key in d2_source.items()}
    for name in ('unmapped', 'dropped'):
        setattr(report, name, [
            d2_to_hf.get(k, hf_names.get(k, k)) for k in getattr(report, name)
        ])
    return converted, report


def load_hf_checkpoint(path: str) -> StateDict:
    """Weights from a ``save_pretrained`` directory or a weights file."""
    if osp.isdir(path):
        for name in ('model.safetensors', 'pytorch_model.bin'):
            if osp.exists(osp.join(path, name)):
                path = osp.join(path, name)
                break
        else:
            raise FileNotFoundError(
                f'No model.safetensors or pytorch_model.bin in {path}')
    if path.endswith('.safetensors'):
        from safetensors.torch import load_file
        return load_file(path)
    return torch.load(path, map_location='cpu', weights_only=True)
