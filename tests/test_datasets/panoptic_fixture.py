"""A hand-built 8x8 COCO-panoptic example with known per-task targets.

Rows 0-2 sky, rows 5-7 road; rows 3-4: person A (cols 0-1), crowd person (col 2),
person B (cols 3-4), void (col 5), car (cols 6-7). Labels: person 0, car 1 (things),
sky 2, road 3 (stuff); category ids 11, 12, 21, 22 (not contiguous on purpose).
"""
import json
import os
import os.path as osp

import numpy as np
from panopticapi.utils import id2rgb
from PIL import Image

CLASSES = ('person', 'car', 'sky', 'road')
CATEGORIES = [
    dict(id=11, name='person', isthing=1), dict(id=12, name='car', isthing=1),
    dict(id=21, name='sky', isthing=0), dict(id=22, name='road', isthing=0)
]
METAINFO = dict(classes=CLASSES, thing_classes=CLASSES[:2], stuff_classes=CLASSES[2:])
# segment id -> (category id, iscrowd, (rows, cols))
SEGMENTS = {
    1: (21, 0, (slice(0, 3), slice(0, 8))),
    2: (22, 0, (slice(5, 8), slice(0, 8))),
    3: (11, 0, (slice(3, 5), slice(0, 2))),
    4: (11, 0, (slice(3, 5), slice(3, 5))),
    5: (12, 0, (slice(3, 5), slice(6, 8))),
    6: (11, 1, (slice(3, 5), slice(2, 3))),
}


def region(rows, cols, shape=(8, 8)):
    mask = np.zeros(shape, bool)
    mask[rows, cols] = True
    return mask


def write_fixture(root, segments=SEGMENTS, png_segments=None, empty_image=False):
    """Write images, PNGs and the json under ``root``; returns the dataset kwargs.

    ``png_segments`` lets a test draw other segments into the PNG than the json lists.
    A second image with no segments at all is added when ``empty_image``.
    """
    for sub in ('img', 'pan'):
        os.makedirs(osp.join(root, sub), exist_ok=True)
    pan = np.zeros((8, 8), np.int64)
    for seg_id, (_, _, (rows, cols)) in (png_segments or segments).items():
        pan[rows, cols] = seg_id
    images = [dict(id=1, file_name='a.jpg', height=8, width=8)]
    anns = [dict(image_id=1, file_name='a.png', segments_info=[
        dict(id=i, category_id=c, iscrowd=crowd, area=int(region(r, k).sum()),
             bbox=[int(k.start), int(r.start), int(k.stop - k.start),
                   int(r.stop - r.start)])
        for i, (c, crowd, (r, k)) in segments.items()])]
    Image.fromarray(id2rgb(pan)).save(osp.join(root, 'pan', 'a.png'))
    Image.fromarray(np.full((8, 8, 3), 128, np.uint8)).save(osp.join(root, 'img', 'a.jpg'))
    if empty_image:
        images.append(dict(id=2, file_name='b.jpg', height=8, width=8))
        anns.append(dict(image_id=2, file_name='b.png', segments_info=[]))
        Image.fromarray(id2rgb(np.zeros((8, 8), np.int64))).save(
            osp.join(root, 'pan', 'b.png'))
        Image.fromarray(np.zeros((8, 8, 3), np.uint8)).save(osp.join(root, 'img', 'b.jpg'))
    with open(osp.join(root, 'ann.json'), 'w') as f:
        json.dump(dict(images=images, annotations=anns, categories=CATEGORIES), f)
    return dict(data_root=root, ann_file='ann.json', metainfo=METAINFO,
                data_prefix=dict(img='img/', seg='pan/'))
