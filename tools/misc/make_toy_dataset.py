"""Generate the bundled toy dataset: small COCO-panoptic images a CPU can learn from.

Each image has two stuff regions (an upper ``sky``/``wall`` band over a lower
``grass``/``sand`` band, split at a random row) and 1-4 thing objects (``circle``,
``square``, ``triangle``) with class-specific colours, drawn over each other so that
later objects occlude earlier ones. Every few images one object is marked as crowd.

    python tools/misc/make_toy_dataset.py data/toy [--train 96] [--val 24] [--size 128]
        [--panoptic-only]

Layout (the same as COCO panoptic, so mmdet's CocoPanopticDataset and metrics read it):
    train/*.png, val/*.png
    annotations/panoptic_{train,val}.json, annotations/panoptic_{train,val}/*.png
    annotations/instances_{train,val}.json     thing instances (RLE), for mask AP
Unless --panoptic-only, two single-task splits of the same toy world, each of other
images (other seeds), for training on data that is not panoptic:
    semantic/img_dir/{train,val}/*.png, semantic/ann_dir/{train,val}/*.png
        mmseg format: label PNGs of SEMANTIC_FILE_CLASSES order (stuff first) with
        0 = unlabelled, to read with reduce_zero_label=True; crowd objects are 0
    instance/{train,val}/*.png, instance/annotations/instances_{train,val}.json
        COCO instances (RLE, crowd flagged) of the thing classes only
        (INSTANCE_CATEGORIES: own ids, upper-case names)
The output depends only on the arguments (fixed seeds), so results are reproducible.
"""
import argparse
import json
import os
import os.path as osp

import numpy as np
from PIL import Image, ImageDraw

THING_CLASSES = ('circle', 'square', 'triangle')
STUFF_CLASSES = ('sky', 'wall', 'grass', 'sand')
# mmdet's panoptic datasets expect things before stuff in label order.
CATEGORIES = [
    dict(id=i + 1, name=name, isthing=int(i < len(THING_CLASSES)), supercategory='toy')
    for i, name in enumerate(THING_CLASSES + STUFF_CLASSES)
]
COLOURS = {
    'circle': (220, 40, 40), 'square': (40, 200, 60), 'triangle': (50, 80, 230),
    'sky': (150, 200, 250), 'wall': (150, 130, 110), 'grass': (70, 140, 50),
    'sand': (220, 200, 140),
}
CROWD_EVERY = 7  # every 7th image has one crowd object
# The semantic-only split's label values 1..7 (0 unlabelled): another order than
# the panoptic categories', as a dataset of its own would have.
SEMANTIC_FILE_CLASSES = STUFF_CLASSES + THING_CLASSES
# The instance-only split's categories: things only, ids and names of its own.
INSTANCE_CATEGORIES = [dict(id=10 + i, name=name.upper(), supercategory='toy')
                       for i, name in enumerate(THING_CLASSES)]


def _cat_id(name: str) -> int:
    return next(c['id'] for c in CATEGORIES if c['name'] == name)


def _draw_thing(cls: str, size: int, rng: np.random.RandomState) -> np.ndarray:
    """Binary mask [size, size] of one thing object at a random place."""
    canvas = Image.new('L', (size, size), 0)
    draw = ImageDraw.Draw(canvas)
    r = rng.randint(size // 12, size // 5)
    cx, cy = rng.randint(r, size - r), rng.randint(r, size - r)
    if cls == 'circle':
        draw.ellipse([cx - r, cy - r, cx + r, cy + r], fill=1)
    elif cls == 'square':
        draw.rectangle([cx - r, cy - r, cx + r, cy + r], fill=1)
    else:
        draw.polygon([(cx, cy - r), (cx - r, cy + r), (cx + r, cy + r)], fill=1)
    return np.asarray(canvas, dtype=bool)


def make_image(index: int, size: int, seed: int):
    """Return (rgb [H, W, 3] uint8, segment id map [H, W] int, segments)."""
    rng = np.random.RandomState(seed * 100003 + index)
    seg_map = np.zeros((size, size), np.int64)
    segments = []

    horizon = rng.randint(size // 4, 3 * size // 4)
    upper, lower = rng.choice(['sky', 'wall']), rng.choice(['grass', 'sand'])
    for name, rows in ((upper, slice(0, horizon)), (lower, slice(horizon, size))):
        seg_map[rows] = len(segments) + 1
        segments.append(dict(name=name, iscrowd=0))
    for k in range(rng.randint(1, 5)):
        name = THING_CLASSES[rng.randint(len(THING_CLASSES))]
        seg_map[_draw_thing(name, size, rng)] = len(segments) + 1
        crowd = int(index % CROWD_EVERY == CROWD_EVERY - 1 and k == 0)
        segments.append(dict(name=name, iscrowd=crowd))

    rgb = np.zeros((size, size, 3), np.float32)
    for seg_id, seg in enumerate(segments, start=1):
        colour = np.array(COLOURS[seg['name']], np.float32)
        colour += rng.uniform(-20, 20, size=3)  # per-segment shade
        rgb[seg_map == seg_id] = colour
    rgb += rng.normal(0, 8, size=rgb.shape)  # texture noise
    rgb = np.clip(rgb, 0, 255).astype(np.uint8)
    return rgb, seg_map, segments


def _bbox(mask: np.ndarray) -> list:
    ys, xs = np.nonzero(mask)
    return [int(xs.min()), int(ys.min()), int(xs.max() - xs.min() + 1),
            int(ys.max() - ys.min() + 1)]


def write_split(root: str, split: str, num: int, size: int, seed: int) -> None:
    from panopticapi.utils import id2rgb  # COCO panoptic PNG encoding
    from pycocotools import mask as mask_utils

    img_dir = osp.join(root, split)
    pan_dir = osp.join(root, 'annotations', f'panoptic_{split}')
    os.makedirs(img_dir, exist_ok=True)
    os.makedirs(pan_dir, exist_ok=True)
    images, pan_anns, inst_anns = [], [], []
    for i in range(num):
        rgb, seg_map, segments = make_image(i, size, seed)
        stem = f'{split}_{i:06d}'
        Image.fromarray(rgb).save(osp.join(img_dir, stem + '.png'))
        images.append(dict(id=i, file_name=stem + '.png', height=size, width=size))
        infos = []
        for seg_id, seg in enumerate(segments, start=1):
            mask = seg_map == seg_id
            if not mask.any():  # fully occluded: not a segment of this image
                continue
                continue
            cat = _cat_id(seg['name'])
            area, bbox = int(mask.sum()), _bbox(mask)
            infos.append(dict(id=seg_id, category_id=cat, area=area, bbox=bbox,
                              iscrowd=seg['iscrowd']))
            if seg['name'] in THING_CLASSES:
                rle = mask_utils.encode(np.asfortranarray(mask.astype(np.uint8)))
                rle['counts'] = rle['counts'].decode('ascii')
                inst_anns.append(dict(id=len(inst_anns) + 1, image_id=i, category_id=cat,
                                      segmentation=rle, area=area, bbox=bbox,
                                      iscrowd=seg['iscrowd']))
        Image.fromarray(id2rgb(seg_map)).save(osp.join(pan_dir, stem + '.png'))
        pan_anns.append(dict(image_id=i, file_name=stem + '.png', segments_info=infos))

    ann_dir = osp.join(root, 'annotations')
    with open(osp.join(ann_dir, f'panoptic_{split}.json'), 'w') as f:
        json.dump(dict(images=images, annotations=pan_anns, categories=CATEGORIES), f)
    with open(osp.join(ann_dir, f'instances_{split}.json'), 'w') as f:
        json.dump(dict(images=images, annotations=inst_anns, categories=CATEGORIES), f)


def make_toy_dataset(root: str, num_train: int = 96, num_val: int = 24,
                     size: int = 128, seed: int = 0) -> str:
    """Write the toy dataset under ``root`` and return ``root``."""
    write_split(root, 'train', num_train, size, seed)
    write_split(root, 'val', num_val, size, seed + 1)
    return root


def write_semantic_split(root: str, split: str, num: int, size: int,
                         seed: int) -> None:
    """Images and mmseg-format label PNGs (``SEMANTIC_FILE_CLASSES`` values 1..7,
    0 unlabelled) under ``root/semantic``."""
    for sub in ('img_dir', 'ann_dir'):
        os.makedirs(osp.join(root, 'semantic', sub, split), exist_ok=True)
    for i in range(num):
        rgb, seg_map, segments = make_image(i, size, seed)
        labels = np.zeros((size, size), np.uint8)
        for seg_id, seg in enumerate(segments, start=1):
            if not seg['iscrowd']:
                value = SEMANTIC_FILE_CLASSES.index(seg['name']) + 1
                labels[seg_map == seg_id] = value
        stem = f'{split}_{i:06d}.png'
        Image.fromarray(rgb).save(osp.join(root, 'semantic', 'img_dir', split, stem))
        Image.fromarray(labels).save(osp.join(root, 'semantic', 'ann_dir', split, stem))


def write_instance_split(root: str, split: str, num: int, size: int,
                         seed: int) -> None:
    """Images and a COCO instances JSON (``INSTANCE_CATEGORIES``) under
    ``root/instance``."""
    from pycocotools import mask as mask_utils

    img_dir = osp.join(root, 'instance', split)
    ann_dir = osp.join(root, 'instance', 'annotations')
    os.makedirs(img_dir, exist_ok=True)
    os.makedirs(ann_dir, exist_ok=True)
    cat_ids = {name: c['id'] for name, c in zip(THING_CLASSES, INSTANCE_CATEGORIES)}
    images, anns = [], []
    for i in range(num):
        rgb, seg_map, segments = make_image(i, size, seed)
        stem = f'{split}_{i:06d}.png'
        Image.fromarray(rgb).save(osp.join(img_dir, stem))
        images.append(dict(id=i, file_name=stem, height=size, width=size))
        for seg_id, seg in enumerate(segments, start=1):
            mask = seg_map == seg_id
            if seg['name'] not in cat_ids or not mask.any():
                continue
            rle = mask_utils.encode(np.asfortranarray(mask.astype(np.uint8)))
            rle['counts'] = rle['counts'].decode('ascii')
            anns.append(dict(id=len(anns) + 1, image_id=i,
                             category_id=cat_ids[seg['name']], segmentation=rle,
                             area=int(mask.sum()), bbox=_bbox(mask),
                             iscrowd=seg['iscrowd']))
    with open(osp.join(ann_dir, f'instances_{split}.json'), 'w') as f:
        json.dump(dict(images=images, annotations=anns,
                       categories=INSTANCE_CATEGORIES), f)


def make_single_task_splits(root: str, num_train: int = 96, num_val: int = 24,
                            size: int = 128, seed: int = 0) -> str:
    """Write the semantic-only and instance-only splits under ``root`` (images
    of their own: seeds after the panoptic splits') and return ``root``."""
    write_semantic_split(root, 'train', num_train, size, seed + 2)
    write_semantic_split(root, 'val', num_val, size, seed + 3)
    write_instance_split(root, 'train', num_train, size, seed + 4)
    write_instance_split(root, 'val', num_val, size, seed + 5)
    return root


def main():
    parser = argparse.ArgumentParser(description=__doc__.split('\n')[0])
    parser.add_argument('root', nargs='?', default='data/toy')
    parser.add_argument('--train', type=int, default=96, help='training images')
    parser.add_argument('--val', type=int, default=24, help='validation images')
    parser.add_argument('--size', type=int, default=128, help='image side (pixels)')
    parser.add_argument('--seed', type=int, default=0)
    parser.add_argument('--panoptic-only', action='store_true',
                        help='skip the semantic-only and instance-only splits')
    args = parser.parse_args()
    make_toy_dataset(args.root, args.train, args.val, args.size, args.seed)
    print(f'toy dataset written to {args.root}: {args.train} train / {args.val} val '
          f'images of {args.size}x{args.size}, things {THING_CLASSES}, '
          f'stuff {STUFF_CLASSES}')
    if not args.panoptic_only:
        make_single_task_splits(args.root, args.train, args.val, args.size, args.seed)
        print(f'semantic-only and instance-only splits written to {args.root}/'
              f'semantic and {args.root}/instance ({args.train} train / {args.val} '
              'val images each)')


if __name__ == '__main__':
    main()
