"""Checkpoint conversion machinery shared by the projects: renaming rules,
the key report, backbone key mappings and the command line."""
from .backbones import BACKBONES, BackboneMapping, get_backbone
from .cli import convert_cli
from .rules import (ATTN, BN, WB, ConversionReport, Rules, StateDict,
                    check_against_model, dataset_metainfo, merge_qkv,
                    model_state_from_config, part_rules, rename, seq_linear)

__all__ = [
    'ATTN', 'BACKBONES', 'BN', 'BackboneMapping', 'ConversionReport', 'Rules',
    'StateDict', 'WB', 'check_against_model', 'convert_cli',
    'dataset_metainfo', 'get_backbone', 'merge_qkv', 'model_state_from_config',
    'part_rules', 'rename', 'seq_linear'
]
