"""Convert a released Panoptic SegFormer checkpoint (mmdet 2.x) to mmdet 3.x.

    python tools/model_converters/panoptic_segformer_to_mmdet.py SRC.pth \
        DST.pth --config CONFIG [--backbone resnet|swin]

Prints a key report; exits 1 (writing nothing) if a tensor is unmapped or
the model of CONFIG misses one (or gets an unexpected or misshapen one).
"""
import sys

from projects.common.converters import convert_cli
from projects.panoptic_segformer.converter import (
    convert_panoptic_segformer_state_dict, load_mmdet2_checkpoint)

if __name__ == '__main__':
    sys.exit(
        convert_cli(__doc__, load_mmdet2_checkpoint,
                    convert_panoptic_segformer_state_dict))
