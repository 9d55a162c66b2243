"""Checkpoint converters (detectron2 release, Hugging Face) to mmdet."""
from .backbones import BACKBONES, BackboneMapping, get_backbone
from .core import ConversionReport, check_against_model, run_cli
from .d2 import convert_d2_state_dict, load_d2_checkpoint
from .hf import convert_hf_state_dict, hf_to_d2_state_dict, load_hf_checkpoint

__all__ = [
    'BACKBONES', 'BackboneMapping', 'ConversionReport', 'check_against_model',
    'convert_d2_state_dict', 'convert_hf_state_dict', 'get_backbone',
    'hf_to_d2_state_dict', 'load_d2_checkpoint', 'load_hf_checkpoint',
    'run_cli'
]
