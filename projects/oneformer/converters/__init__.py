"""Checkpoint converters (detectron2 release, Hugging Face) to mmdet."""
from .backbones import BACKBONES, BackboneMapping, get_backbone
from .core import (ConversionReport, check_against_model, dataset_metainfo,
                   reorder_classes, run_cli)
from .d2 import convert_d2_state_dict, load_d2_checkpoint
from .hf import convert_hf_state_dict, hf_to_d2_state_dict, load_hf_checkpoint

__all__ = [
    'BACKBONES', 'BackboneMapping', 'ConversionReport', 'check_against_model',
    'convert_d2_state_dict', 'convert_hf_state_dict', 'dataset_metainfo',
    'get_backbone', 'reorder_classes',
    'hf_to_d2_state_dict', 'load_d2_checkpoint', 'load_hf_checkpoint',
    'run_cli'
]
