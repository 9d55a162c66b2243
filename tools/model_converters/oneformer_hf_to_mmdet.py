"""Convert a Hugging Face OneFormer checkpoint to mmdet.

    python tools/model_converters/oneformer_hf_to_mmdet.py SRC DST.pth \
        --config CONFIG [--backbone resnet]

SRC is a ``save_pretrained`` directory or a .safetensors / .bin file of
``OneFormerForUniversalSegmentation``. Prints a key report; exits 1 (writing
nothing) if a tensor is unmapped or the model of CONFIG misses one.
"""
import sys

from projects.oneformer.converters import (convert_hf_state_dict,
                                           load_hf_checkpoint, run_cli)

if __name__ == '__main__':
    sys.exit(run_cli(__doc__, load_hf_checkpoint, convert_hf_state_dict))
