"""ADE20K panoptic: the 150 SceneParsing classes (100 things, 50 stuff) in the
COCO-panoptic layout written by ``tools/dataset_converters/ade20k_panoptic.py``.

The category table lives here and only here: the converter writes its json categories
and its metainfo file from it, and :class:`OneFormerADE20KPanopticDataset` takes its
``METAINFO`` from it, so a label can never name another class than the json says.
"""
import functools
import os.path as osp

import numpy as np

from mmdet.registry import DATASETS

from .panoptic import OneFormerPanopticDataset, panoptic_metainfo

# The released ADE20K panoptic category list (Mask2Former/OneFormer
# ``ADE20K_150_CATEGORIES``): (name, isthing, colour) for category ids 0..149.
# Names are the released raw names ("window " keeps its trailing space): the texts
# of the text mapper are built from them.
ADE20K_CATEGORIES = (
    ('wall', 0, (120, 120, 120)),
    ('building', 0, (180, 120, 120)),
    ('sky', 0, (6, 230, 230)),
    ('floor', 0, (80, 50, 50)),
    ('tree', 0, (4, 200, 3)),
    ('ceiling', 0, (120, 120, 80)),
    ('road, route', 0, (140, 140, 140)),
    ('bed', 1, (204, 5, 255)),
    ('window ', 1, (230, 230, 230)),
    ('grass', 0, (4, 250, 7)),
    ('cabinet', 1, (224, 5, 255)),
    ('sidewalk, pavement', 0, (235, 255, 7)),
    ('person', 1, (150, 5, 61)),
    ('earth, ground', 0, (120, 120, 70)),
    ('door', 1, (8, 255, 51)),
    ('table', 1, (255, 6, 82)),
    ('mountain, mount', 0, (143, 255, 140)),
    ('plant', 0, (204, 255, 4)),
    ('curtain', 1, (255, 51, 7)),
    ('chair', 1, (204, 70, 3)),
    ('car', 1, (0, 102, 200)),
    ('water', 0, (61, 230, 250)),
    ('painting, picture', 1, (255, 6, 51)),
    ('sofa', 1, (11, 102, 255)),
    ('shelf', 1, (255, 7, 71)),
    ('house', 0, (255, 9, 224)),
    ('sea', 0, (9, 7, 230)),
    ('mirror', 1, (220, 220, 220)),
    ('rug', 0, (255, 9, 92)),
    ('field', 0, (112, 9, 255)),
    ('armchair', 1, (8, 255, 214)),
    ('seat', 1, (7, 255, 224)),
    ('fence', 1, (255, 184, 6)),
    ('desk', 1, (10, 255, 71)),
    ('rock, stone', 0, (255, 41, 10)),
    ('wardrobe, closet, press', 1, (7, 255, 255)),
    ('lamp', 1, (224, 255, 8)),
    ('tub', 1, (102, 8, 255)),
    ('rail', 1, (255, 61, 6)),
    ('cushion', 1, (255, 194, 7)),
    ('base, pedestal, stand', 0, (255, 122, 8)),
    ('box', 1, (0, 255, 20)),
    ('column, pillar', 1, (255, 8, 41)),
    ('signboard, sign', 1, (255, 5, 153)),
    ('chest of drawers, chest, bureau, dresser', 1, (6, 51, 255)),
    ('counter', 1, (235, 12, 255)),
    ('sand', 0, (160, 150, 20)),
    ('sink', 1, (0, 163, 255)),
    ('skyscraper', 0, (140, 140, 140)),
    ('fireplace', 1, (250, 10, 15)),
    ('refrigerator, icebox', 1, (20, 255, 0)),
    ('grandstand, covered stand', 0, (31, 255, 0)),
    ('path', 0, (255, 31, 0)),
    ('stairs', 1, (255, 224, 0)),
    ('runway', 0, (153, 255, 0)),
    ('case, display case, showcase, vitrine', 1, (0, 0, 255)),
    ('pool table, billiard table, snooker table', 1, (255, 71, 0)),
    ('pillow', 1, (0, 235, 255)),
    ('screen door, screen', 1, (0, 173, 255)),
    ('stairway, staircase', 0, (31, 0, 255)),
    ('river', 0, (11, 200, 200)),
    ('bridge, span', 0, (255, 82, 0)),
    ('bookcase', 1, (0, 255, 245)),
    ('blind, screen', 0, (0, 61, 255)),
    ('coffee table', 1, (0, 255, 112)),
    ('toilet, can, commode, crapper, pot, potty, stool, throne', 1, (0, 255, 133)),
    ('flower', 1, (255, 0, 0)),
    ('book', 1, (255, 163, 0)),
    ('hill', 0, (255, 102, 0)),
    ('bench', 1, (194, 255, 0)),
    ('countertop', 1, (0, 143, 255)),
    ('stove', 1, (51, 255, 0)),
    ('palm, palm tree', 1, (0, 82, 255)),
    ('kitchen island', 1, (0, 255, 41)),
    ('computer', 1, (0, 255, 173)),
    ('swivel chair', 1, (10, 0, 255)),
    ('boat', 1, (173, 255, 0)),
    ('bar', 0, (0, 255, 153)),
    ('arcade machine', 1, (255, 92, 0)),
    ('hovel, hut, hutch, shack, shanty', 0, (255, 0, 255)),
    ('bus', 1, (255, 0, 245)),
    ('towel', 1, (255, 0, 102)),
    ('light', 1, (255, 173, 0)),
    ('truck', 1, (255, 0, 20)),
    ('tower', 0, (255, 184, 184)),
    ('chandelier', 1, (0, 31, 255)),
    ('awning, sunshade, sunblind', 1, (0, 255, 61)),
    ('street lamp', 1, (0, 71, 255)),
    ('booth', 1, (255, 0, 204)),
    ('tv', 1, (0, 255, 194)),
    ('plane', 1, (0, 255, 82)),
    ('dirt track', 0, (0, 10, 255)),
    ('clothes', 1, (0, 112, 255)),
    ('pole', 1, (51, 0, 255)),
    ('land, ground, soil', 0, (0, 194, 255)),
    ('bannister, banister, balustrade, balusters, handrail', 1, (0, 122, 255)),
    ('escalator, moving staircase, moving stairway', 0, (0, 255, 163)),
    ('ottoman, pouf, pouffe, puff, hassock', 1, (255, 153, 0)),
    ('bottle', 1, (0, 255, 10)),
    ('buffet, counter, sideboard', 0, (255, 112, 0)),
    ('poster, posting, placard, notice, bill, card', 0, (143, 255, 0)),
    ('stage', 0, (82, 0, 255)),
    ('van', 1, (163, 255, 0)),
    ('ship', 1, (255, 235, 0)),
    ('fountain', 1, (8, 184, 170)),
    ('conveyer belt, conveyor belt, conveyer, conveyor, transporter', 0, (133, 0, 255)),
    ('canopy', 0, (0, 255, 92)),
    ('washer, automatic washer, washing machine', 1, (184, 0, 255)),
    ('plaything, toy', 1, (255, 0, 31)),
    ('pool', 0, (0, 184, 255)),
    ('stool', 1, (0, 214, 255)),
    ('barrel, cask', 1, (255, 0, 112)),
    ('basket, handbasket', 1, (92, 255, 0)),
    ('falls', 0, (0, 224, 255)),
    ('tent', 0, (112, 224, 255)),
    ('bag', 1, (70, 184, 160)),
    ('minibike, motorbike', 1, (163, 0, 255)),
    ('cradle', 0, (153, 0, 255)),
    ('oven', 1, (71, 255, 0)),
    ('ball', 1, (255, 0, 163)),
    ('food, solid food', 1, (255, 204, 0)),
    ('step, stair', 1, (255, 0, 143)),
    ('tank, storage tank', 0, (0, 255, 235)),
    ('trade name', 1, (133, 255, 0)),
    ('microwave', 1, (255, 0, 235)),
    ('pot', 1, (245, 0, 255)),
    ('animal', 1, (255, 0, 122)),
    ('bicycle', 1, (255, 245, 0)),
    ('lake', 0, (10, 190, 212)),
    ('dishwasher', 1, (214, 255, 0)),
    ('screen', 1, (0, 204, 255)),
    ('blanket, cover', 0, (20, 0, 255)),
    ('sculpture', 1, (255, 255, 0)),
    ('hood, exhaust hood', 1, (0, 153, 255)),
    ('sconce', 1, (0, 41, 255)),
    ('vase', 1, (0, 255, 204)),
    ('traffic light', 1, (41, 0, 255)),
    ('tray', 1, (41, 255, 0)),
    ('trash can', 1, (173, 0, 255)),
    ('fan', 1, (0, 245, 255)),
    ('pier', 0, (71, 0, 255)),
    ('crt screen', 0, (122, 0, 255)),
    ('plate', 1, (0, 255, 184)),
    ('monitor', 1, (0, 92, 255)),
    ('bulletin board', 1, (184, 255, 0)),
    ('shower', 0, (0, 133, 255)),
    ('radiator', 1, (255, 214, 0)),
    ('glass, drinking glass', 1, (25, 194, 194)),
    ('clock', 1, (102, 255, 0)),
    ('flag', 1, (92, 0, 255)),
)

_BY_ID = [dict(id=cat_id, name=name, isthing=isthing, color=list(color))
          for cat_id, (name, isthing, color) in enumerate(ADE20K_CATEGORIES)]
# The json categories, things first: mmdet numbers labels in the json's category
# order and takes labels below the number of things as things.
ADE20K_PANOPTIC_CATEGORIES = ([c for c in _BY_ID if c['isthing']] +
                              [c for c in _BY_ID if not c['isthing']])


@DATASETS.register_module()
class OneFormerADE20KPanopticDataset(OneFormerPanopticDataset):
    """ADE20K panoptic (150 classes, things first) as converted by
    ``tools/dataset_converters/ade20k_panoptic.py``; configs need no class list.
    ``METAINFO['release_classes']`` is the release's class order (SceneParsing,
    things and stuff interleaved), see ``class_order``.

    Not named ``ADE20KPanopticDataset``: mmdet registers a class of that name for its
    own converter's layout, with other class names ('window', 'airplane' instead of
    the released 'window ', 'plane').

    With ``data_prefix=dict(..., sem_seg='annotations/validation/')`` each image
    also carries ``sem_seg_path`` and ``sem_seg_lut`` for ``LoadSceneParsingSemSeg``:
    the SceneParsing maps, the released mIoU ground truth.
    """

    METAINFO = dict(
        panoptic_metainfo(ADE20K_PANOPTIC_CATEGORIES),
        # the released classifier rows and text lists: category id order
        release_classes=tuple(name for name, _, _ in ADE20K_CATEGORIES))

    @functools.cached_property
    def _sem_seg_lut(self) -> np.ndarray:
        """SceneParsing value -> label [256]: value k is category k - 1, 0
        (other) is void."""
        lut = np.full(256, 255, dtype=np.uint8)
        for cat_id, label in self.cat2label.items():
            lut[cat_id + 1] = label
        return lut

    def parse_data_info(self, raw_data_info: dict) -> dict:
        data_info = super().parse_data_info(raw_data_info)
        prefix = self.data_prefix.get('sem_seg')
        if prefix is not None:
            stem = osp.splitext(raw_data_info['raw_img_info']['file_name'])[0]
            data_info['sem_seg_path'] = osp.join(prefix, stem + '.png')
            data_info['sem_seg_lut'] = self._sem_seg_lut
        return data_info
