"""COCO panoptic -> semantic PNGs (mIoU) and a things-only instance json (mask AP),
both derived from the panoptic annotation as in the OneFormer paper ("AP on instance
ground truths derived from the panoptic annotations").

Input (``ROOT`` = the COCO folder with ``panoptic_annotations_trainval2017`` extracted,
the PNG zips unpacked either under ``annotations/`` (mmdet) or beside it (detectron2))::

    annotations/panoptic_{train,val}2017.json
    annotations/panoptic_{train,val}2017/*.png   (or panoptic_{train,val}2017/*.png)

Output (in ``--out-dir``, default ``ROOT/annotations``)::

    panoptic_semseg_{train,val}2017/*.png      uint8: contiguous class index, 255 void
    panoptic2instances_{train,val}2017.json    thing segments, RLE, iscrowd kept

Command::

    python tools/dataset_converters/coco_panoptic_derive.py data/coco --nproc 8

Semantic map (as Mask2Former's ``prepare_coco_semantic_annos_from_panoptic_annos.py``):
every segment's pixels get its class index, things merged with their class and crowd
segments included; pixels of no segment are 255. The class index is the category's
position in the json with things first - for COCO's json (already things first) the
label mmdet's ``CocoPanopticDataset`` gives it.
Instance json (as OneFormer's ``panoptic2detection_coco_format.py --things_only``): one
annotation per thing segment with its ``iscrowd`` flag, an RLE mask from the PNG and
the area and box of that mask; ids 1..n; images as in the panoptic json.

A segment listed in the json but absent from its PNG, a PNG id without a segment, an
unknown category id or a missing PNG stop the conversion with the file and the id.
"""
import functools
import json
import os
import os.path as osp
import sys

import numpy as np
from PIL import Image

sys.path.insert(0, osp.dirname(osp.abspath(__file__)))  # the shared module beside us
from _panoptic_common import (  # noqa: E402
    annotate_segments, dump_json, number_annotations, parse_args, read_id_png,
    run_per_image, things_first)

IGNORE = 255


def semantic_map(id_map: np.ndarray, segments: list, label_of: dict) -> np.ndarray:
    """uint8 class-index map: each segment's pixels get its category's label."""
    semantic = np.full(id_map.shape, IGNORE, np.uint8)
    for seg in segments:
        semantic[id_map == seg['id']] = label_of[seg['category_id']]
    return semantic


def _derive_image(ann: dict, png_dir: str, sem_dir: str, category_by_id: dict,
                  label_of: dict):
    png_path = osp.join(png_dir, ann['file_name'])
    id_map = read_id_png(png_path)
    _, instances = annotate_segments(id_map, ann['segments_info'], category_by_id,
                                     png_path, ann['image_id'])
    Image.fromarray(semantic_map(id_map, ann['segments_info'], label_of)).save(
        osp.join(sem_dir, ann['file_name']))
    return instances


def derive_split(panoptic_json: str, png_dir: str, semantic_dir: str,
                 instance_json: str, nproc: int = 1) -> dict:
    """Write the semantic PNGs and the instance json of one panoptic split."""
    with open(panoptic_json) as f:
        data = json.load(f)
    categories = things_first(data['categories'])
    if len(categories) >= IGNORE:
        raise ValueError(f'{panoptic_json}: {len(categories)} categories do not fit '
                         f'a uint8 map with {IGNORE} as void')
    label_of = {c['id']: label for label, c in enumerate(categories)}
    image_ids = {img['id'] for img in data['images']}
    for ann in data['annotations']:
        if ann['image_id'] not in image_ids:
            raise ValueError(f'{panoptic_json}: annotation {ann["file_name"]} has '
                             f'image_id {ann["image_id"]}, which is not in "images"')
    os.makedirs(semantic_dir, exist_ok=True)
    print(f'{panoptic_json}: {len(data["annotations"])} images')
    worker = functools.partial(_derive_image, png_dir=png_dir, sem_dir=semantic_dir,
                               category_by_id={c['id']: c for c in categories},
                               label_of=label_of)
    instances = number_annotations(run_per_image(worker, data['annotations'], nproc))
    out = {k: v for k, v in data.items() if k in ('info', 'licenses')}
    out.update(images=data['images'], annotations=instances,
               categories=[c for c in categories if c['isthing']])
    dump_json(instance_json, out)
    return dict(images=len(data['images']), instances=len(instances))


def find_png_dir(root: str, split: str) -> str:
    """The panoptic PNG folder of a split, in mmdet's or detectron2's layout."""
    candidates = [osp.join(root, 'annotations', f'panoptic_{split}'),
                  osp.join(root, f'panoptic_{split}')]
    for path in candidates:
        if osp.isdir(path):
            return path
    raise FileNotFoundError(f'no panoptic PNG folder for {split}: looked for '
                            f'{" and ".join(candidates)}')


def main(argv=None) -> None:
    args = parse_args(argv, __doc__, 'the COCO folder (annotations/ ...)',
                      'ROOT/annotations', ['train2017', 'val2017'], split_choices=False)
    out_dir = args.out_dir or osp.join(args.root, 'annotations')
    for split in args.splits:
        counts = derive_split(
            osp.join(args.root, 'annotations', f'panoptic_{split}.json'),
            find_png_dir(args.root, split),
            osp.join(out_dir, f'panoptic_semseg_{split}'),
            osp.join(out_dir, f'panoptic2instances_{split}.json'), args.nproc)
        print(f'\nCOCO {split}: {counts}')


if __name__ == '__main__':
    main()
