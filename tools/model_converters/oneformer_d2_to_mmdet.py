"""Convert a released OneFormer checkpoint (detectron2 .pth) to mmdet.

    python tools/model_converters/oneformer_d2_to_mmdet.py SRC.pth DST.pth \
        --config CONFIG [--backbone resnet]

Prints a key report; exits 1 (writing nothing) if a tensor is unmapped or
the model of CONFIG misses one.
"""
import sys

from projects.oneformer.converters import (convert_d2_state_dict,
                                           load_d2_checkpoint, run_cli)

if __name__ == '__main__':
    sys.exit(run_cli(__doc__, load_d2_checkpoint, convert_d2_state_dict))
