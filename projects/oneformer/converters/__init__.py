"""OneFormer checkpoint converters (detectron2 release, Hugging Face) to mmdet
and mmseg; the renaming machinery is ``projects.common.converters``."""
from .core import (TARGET_PREFIXES, reorder_classes, retarget, retarget_key,
                   run_cli)
from .d2 import convert_d2_state_dict, load_d2_checkpoint
from .hf import convert_hf_state_dict, hf_to_d2_state_dict, load_hf_checkpoint

__all__ = [
    'TARGET_PREFIXES', 'convert_d2_state_dict', 'convert_hf_state_dict',
    'hf_to_d2_state_dict', 'load_d2_checkpoint', 'load_hf_checkpoint',
    'reorder_classes', 'retarget', 'retarget_key', 'run_cli'
]
