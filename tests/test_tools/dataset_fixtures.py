"""Tiny datasets in the SOURCE formats of the converters under tools/dataset_converters/,
written with numpy/PIL. Regions are rectangles ``(rows, cols)`` so that the tests can
state the expected areas and boxes by hand."""
import json
import os
import os.path as osp

import numpy as np
from PIL import Image

ADE_SIZE = (32, 48)
CITY_SIZE = (32, 64)
COCO_SIZE = (24, 32)


def box(r0, r1, c0, c1):
    """Rows r0..r1-1, columns c0..c1-1."""
    return np.s_[r0:r1, c0:c1]


def _save(path, array):
    os.makedirs(osp.dirname(path), exist_ok=True)
    Image.fromarray(array).save(path)


def _rgb_image(path, size, seed):
    rng = np.random.RandomState(seed)
    _save(path, rng.randint(0, 255, size + (3,), dtype=np.uint8))


# ADE20K: semantic classes are 1-based (0 = other); instance PNG R = instance-list
# category (1..100), G = instance id.
ADE_IMAGES = {
    'ADE_val_00000001': dict(
        semantic=[(box(0, 16, 0, 48), 1), (box(16, 32, 0, 48), 4),  # wall, floor
                  (box(0, 4, 40, 48), 0),                           # other: void
                  (box(18, 26, 2, 14), 8),                          # bed
                  (box(6, 14, 30, 36), 13)],                        # person
        instances=[(box(18, 24, 2, 14), 1, 1),     # bed, 2 semantic bed rows uncovered
                   (box(6, 14, 30, 36), 4, 2),     # person over its semantic region
                   (box(26, 32, 40, 48), 4, 5)]),  # person pasted over floor
    'ADE_val_00000002': dict(
        semantic=[(box(0, 10, 0, 48), 3), (box(10, 32, 0, 48), 7),  # sky, road
                  (box(2, 6, 2, 10), 5),                            # tree
                  (box(20, 28, 10, 30), 21)],                       # car
        instances=[(box(20, 28, 10, 30), 9, 1),    # car
                   (box(2, 6, 2, 10), 59, 2)]),    # plane, covering all of the tree
}


def ade_maps(spec):
    semantic = np.zeros(ADE_SIZE, np.uint8)
    for region, cls in spec['semantic']:
        semantic[region] = cls
    instance = np.zeros(ADE_SIZE + (3,), np.uint8)
    for region, category, inst_id in spec['instances']:
        instance[region + (0,)] = category
        instance[region + (1,)] = inst_id
    return semantic, instance


def write_ade(root, images=ADE_IMAGES):
    for seed, (stem, spec) in enumerate(images.items()):
        semantic, instance = ade_maps(spec)
        _rgb_image(osp.join(root, 'images', 'validation', stem + '.jpg'), ADE_SIZE, seed)
        _save(osp.join(root, 'annotations', 'validation', stem + '.png'), semantic)
        _save(osp.join(root, 'annotations_instance', 'validation', stem + '.png'),
              instance)
    return root


# Cityscapes instanceIds: label id (stuff, crowd), label id * 1000 + k (instance k).
CITY_IMAGES = {
    ('aachen', 'aachen_000000_000019'): [
        (box(0, 8, 0, 64), 23), (box(8, 32, 0, 64), 7),  # sky, road
        (box(12, 20, 4, 20), 26000), (box(12, 20, 24, 32), 26001),  # cars
        (box(20, 28, 40, 56), 26),           # car group: crowd
        (box(4, 12, 56, 60), 24000),         # person across sky and road
        (box(28, 32, 0, 64), 1),             # ego vehicle: void
        (box(22, 26, 4, 12), 29000)],        # caravan (ignoreInEval thing): void
    ('bremen', 'bremen_000001_000002'): [
        (box(0, 32, 0, 64), 21),             # vegetation
        (box(2, 10, 2, 6), 25000), (box(10, 14, 2, 10), 33000),  # rider, bicycle
        (box(20, 24, 0, 64), 9)],            # parking: void
}


def city_map(regions):
    inst = np.zeros(CITY_SIZE, np.uint16)
    for region, value in regions:
        inst[region] = value
    return inst


def city_label_ids(inst):
    """The *_gtFine_labelIds.png map of an instanceIds map: cityscapesscripts renders
    both from the same polygons, a pixel's label id is its instanceIds value below
    1000 (stuff, crowd) and the value // 1000 above."""
    return np.where(inst < 1000, inst, inst // 1000).astype(np.uint8)


def write_cityscapes(root, images=CITY_IMAGES, split='val'):
    for seed, ((city, stem), regions) in enumerate(images.items()):
        _rgb_image(osp.join(root, 'leftImg8bit', split, city, stem + '_leftImg8bit.png'),
                   CITY_SIZE, seed)
        inst = city_map(regions)
        gt_stem = osp.join(root, 'gtFine', split, city, stem + '_gtFine_')
        # 16-bit PNG, as the released *_instanceIds.png; 8-bit *_labelIds.png
        _save(gt_stem + 'instanceIds.png', inst)
        _save(gt_stem + 'labelIds.png', city_label_ids(inst))
    return root


# COCO panoptic: real category ids and names, json order things first as in COCO.
COCO_CATEGORIES = [
    dict(id=1, name='person', supercategory='person', isthing=1),
    dict(id=3, name='car', supercategory='vehicle', isthing=1),
    dict(id=184, name='tree-merged', supercategory='plant', isthing=0),
    dict(id=187, name='sky-other-merged', supercategory='sky', isthing=0),
]
# (segment id, category id, iscrowd, region); ids span all three PNG channels
COCO_IMAGES = {
    139: [(5069153, 187, 0, box(0, 12, 0, 32)), (2, 184, 0, box(12, 24, 0, 32)),
          (7171437, 1, 0, box(4, 16, 4, 10)), (65793, 3, 1, box(16, 22, 20, 30)),
          (0, None, 0, box(0, 2, 28, 32))],  # void
    285: [(1, 187, 0, box(0, 24, 0, 32)), (300, 1, 0, box(2, 10, 2, 8)),
          (301, 1, 0, box(10, 18, 20, 28))],
}


def coco_id_map(segments):
    id_map = np.zeros(COCO_SIZE, np.int64)
    for seg_id, _, _, region in segments:
        id_map[region] = seg_id
    return id_map


def write_coco(root, split='val2017'):
    from panopticapi.utils import id2rgb

    images, annotations = [], []
    for image_id, segments in COCO_IMAGES.items():
        name = f'{image_id:012d}'
        id_map = coco_id_map(segments)
        _save(osp.join(root, 'annotations', f'panoptic_{split}', name + '.png'),
              id2rgb(id_map))
        images.append(dict(id=image_id, file_name=name + '.jpg', height=COCO_SIZE[0],
                           width=COCO_SIZE[1]))
        infos = [dict(id=seg_id, category_id=cat, iscrowd=crowd,
                      area=int((id_map == seg_id).sum()), bbox=[0, 0, 1, 1])
                 for seg_id, cat, crowd, _ in segments if seg_id]
        annotations.append(dict(image_id=image_id, file_name=name + '.png',
                                segments_info=infos))
    path = osp.join(root, 'annotations', f'panoptic_{split}.json')
    with open(path, 'w') as f:
        json.dump(dict(images=images, annotations=annotations,
                       categories=COCO_CATEGORIES), f)
    return path
