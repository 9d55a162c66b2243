"""Cityscapes panoptic: the 19 evaluated classes (8 things, 11 stuff) in the
COCO-panoptic layout written by ``tools/dataset_converters/cityscapes_panoptic.py``.

The category table lives here and only here: the converter writes its json categories
and its metainfo file from it, and :class:`CityscapesPanopticDataset` takes its
``METAINFO`` from it.
"""
from mmdet.registry import DATASETS

from .panoptic import OneFormerPanopticDataset, panoptic_metainfo

# The classes of cityscapesscripts' label table that are not ``ignoreInEval``:
# (label id = COCO category id, train id, name, isthing = ``hasInstances``,
# supercategory = ``category``, colour); things first, each group in train-id
# order, which is the label order mmdet gives them. The release numbers its
# classes by train id (stuff first). tests/test_tools/test_dataset_converters.py
# checks this table against cityscapesscripts.
_TABLE = (
    (24, 11, 'person', 1, 'human', (220, 20, 60)),
    (25, 12, 'rider', 1, 'human', (255, 0, 0)),
    (26, 13, 'car', 1, 'vehicle', (0, 0, 142)),
    (27, 14, 'truck', 1, 'vehicle', (0, 0, 70)),
    (28, 15, 'bus', 1, 'vehicle', (0, 60, 100)),
    (31, 16, 'train', 1, 'vehicle', (0, 80, 100)),
    (32, 17, 'motorcycle', 1, 'vehicle', (0, 0, 230)),
    (33, 18, 'bicycle', 1, 'vehicle', (119, 11, 32)),
    (7, 0, 'road', 0, 'flat', (128, 64, 128)),
    (8, 1, 'sidewalk', 0, 'flat', (244, 35, 232)),
    (11, 2, 'building', 0, 'construction', (70, 70, 70)),
    (12, 3, 'wall', 0, 'construction', (102, 102, 156)),
    (13, 4, 'fence', 0, 'construction', (190, 153, 153)),
    (17, 5, 'pole', 0, 'object', (153, 153, 153)),
    (19, 6, 'traffic light', 0, 'object', (250, 170, 30)),
    (20, 7, 'traffic sign', 0, 'object', (220, 220, 0)),
    (21, 8, 'vegetation', 0, 'nature', (107, 142, 35)),
    (22, 9, 'terrain', 0, 'nature', (152, 251, 152)),
    (23, 10, 'sky', 0, 'sky', (70, 130, 180)),
)
# the json categories
CITYSCAPES_CATEGORIES = [
    dict(id=cat_id, name=name, isthing=isthing, supercategory=supercategory,
         color=list(color))
    for cat_id, _, name, isthing, supercategory, color in _TABLE]


@DATASETS.register_module()
class CityscapesPanopticDataset(OneFormerPanopticDataset):
    """Cityscapes panoptic (19 classes, things first) as converted by
    ``tools/dataset_converters/cityscapes_panoptic.py``; configs need no class list.
    ``METAINFO['release_classes']`` is the release's class order (train ids), see
    ``class_order``."""

    METAINFO = dict(
        panoptic_metainfo(CITYSCAPES_CATEGORIES),
        # the released classifier rows and text lists: train id order
        release_classes=tuple(
            row[2] for row in sorted(_TABLE, key=lambda row: row[1])))
