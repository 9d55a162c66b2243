"""Shared by the dataset converters in this folder: panoptic PNG <-> segment ids,
segment statistics, RLE instance annotations, COCO json and metainfo writing, and the
progress-tracked per-image loop.

Segment ids are encoded as in COCO panoptic (``panopticapi.utils.id2rgb``:
id = R + 256 G + 256^2 B, 0 = void).
"""
import argparse
import json
import os
import os.path as osp
import pprint
from typing import Callable, Dict, List, Sequence, Tuple

import numpy as np
from mmengine.utils import track_parallel_progress, track_progress
from panopticapi.utils import id2rgb, rgb2id
from PIL import Image
from pycocotools import mask as mask_utils

VOID = 0


def read_png(path: str, what: str) -> np.ndarray:
    """Pixel array of a PNG; a missing file raises an error naming it."""
    if not osp.isfile(path):
        raise FileNotFoundError(f'{what} not found: {path}')
    with Image.open(path) as img:
        return np.asarray(img)


def read_id_png(path: str) -> np.ndarray:
    """Segment-id map [H, W] (int64) of a COCO-panoptic PNG."""
    if not osp.isfile(path):
        raise FileNotFoundError(f'panoptic PNG not found: {path}')
    with Image.open(path) as img:
        return rgb2id(np.asarray(img.convert('RGB'))).astype(np.int64)


def image_size(path: str) -> Tuple[int, int]:
    """(height, width) of an image, read from its header only."""
    if not osp.isfile(path):
        raise FileNotFoundError(f'image not found: {path}')
    with Image.open(path) as img:
        return img.height, img.width


def save_id_png(path: str, id_map: np.ndarray) -> None:
    os.makedirs(osp.dirname(path), exist_ok=True)
    Image.fromarray(id2rgb(id_map)).save(path)


def encode_rle(mask: np.ndarray) -> dict:
    """COCO RLE of a binary mask, with ``counts`` as a json-ready string."""
    rle = mask_utils.encode(np.asfortranarray(mask, dtype=np.uint8))
    rle['counts'] = rle['counts'].decode('ascii')
    return rle


def mask_bbox(mask: np.ndarray) -> List[int]:
    """COCO [x, y, w, h] box of a non-empty binary mask, in whole pixels."""
    rows = np.flatnonzero(mask.any(axis=1))
    cols = np.flatnonzero(mask.any(axis=0))
    return [int(cols[0]), int(rows[0]), int(cols[-1] - cols[0] + 1),
            int(rows[-1] - rows[0] + 1)]


def check_segments(id_map: np.ndarray, segments: Sequence[dict],
                   categories: Dict[int, dict], png_path: str) -> None:
    """Refuse a segment list that disagrees with its id map: duplicate ids, unknown
    category ids, segments absent from the PNG, and PNG ids without a segment."""
    in_png = set(np.unique(id_map).tolist()) - {VOID}
    seen = set()
    for seg in segments:
        seg_id, cat_id = seg['id'], seg['category_id']
        if seg_id in seen:
            raise ValueError(f'{png_path}: segment id {seg_id} is listed twice')
        seen.add(seg_id)
        if cat_id not in categories:
            raise ValueError(f'{png_path}: segment {seg_id} has unknown category_id '
                             f'{cat_id}')
        if seg_id not in in_png:
            raise ValueError(f'{png_path}: segment id {seg_id} (category_id {cat_id}) '
                             'is absent from the PNG')
    unlisted = sorted(in_png - seen)
    if unlisted:
        raise ValueError(f'{png_path}: segment ids {unlisted} are in the PNG but have '
                         'no segments_info entry')


def annotate_segments(id_map: np.ndarray, segments: Sequence[dict],
                      categories: Dict[int, dict], png_path: str,
                      image_id: int) -> Tuple[List[dict], List[dict]]:
    """Check ``segments`` (dicts with ``id``, ``category_id``, ``iscrowd``) against the
    id map and return (COCO-panoptic ``segments_info`` with area and bbox, COCO
    instance annotations of the thing segments, with RLE masks and no ``id`` yet)."""
    check_segments(id_map, segments, categories, png_path)
    segments_info, instances = [], []
    for seg in segments:
        mask = id_map == seg['id']
        area, bbox = int(mask.sum()), mask_bbox(mask)
        info = dict(id=int(seg['id']), category_id=int(seg['category_id']), area=area,
                    bbox=bbox, iscrowd=int(seg['iscrowd']))
        segments_info.append(info)
        if categories[seg['category_id']]['isthing']:
            instances.append(dict(image_id=image_id, category_id=info['category_id'],
                                  segmentation=encode_rle(mask), area=area, bbox=bbox,
                                  iscrowd=info['iscrowd']))
    return segments_info, instances


def run_per_image(func: Callable, tasks: Sequence, nproc: int = 1) -> list:
    """``[func(task) for task in tasks]`` with a progress bar, in ``nproc`` processes."""
    if nproc > 1:
        return track_parallel_progress(func, tasks, nproc=nproc)
    return track_progress(func, tasks)


def number_annotations(per_image: Sequence[List[dict]]) -> List[dict]:
    """Flatten per-image instance annotations and give them ids 1, 2, ... (pycocotools
    treats a ground-truth id of 0 as "unmatched", so 0 is never used)."""
    flat = [ann for anns in per_image for ann in anns]
    for ann_id, ann in enumerate(flat, start=1):
        ann['id'] = ann_id
    return flat


def things_first(categories: Sequence[dict]) -> List[dict]:
    """Categories with the things first, each group in its given order. mmdet numbers
    labels in the json's category order and assumes labels < num_things are things."""
    return [c for c in categories if c['isthing']] + [c for c in categories
                                                     if not c['isthing']]


def dump_json(path: str, data: dict) -> None:
    os.makedirs(osp.dirname(osp.abspath(path)), exist_ok=True)
    with open(path, 'w') as f:
        json.dump(data, f)


def write_metainfo(path: str, metainfo: dict, source: str) -> None:
    """Write ``metainfo = dict(...)`` as a config file that configs can inherit."""
    meta = pprint.pformat(metainfo, width=88, compact=True, sort_dicts=False)
    text = (f'# Written by {source}:\n# the metainfo of its json files '
            f'(classes in json category order, things first).\nmetainfo = {meta}\n')
    os.makedirs(osp.dirname(osp.abspath(path)), exist_ok=True)
    with open(path, 'w') as f:
        f.write(text)


def panoptic_record(id_map: np.ndarray, segments: Sequence[dict],
                    categories: Dict[int, dict], image_info: dict, out_dir: str,
                    png_name: str) -> Tuple[dict, dict, List[dict]]:
    """Annotate and save one image's panoptic map; return (image info, panoptic
    annotation, thing instance annotations) for :func:`write_panoptic_split`."""
    png_path = osp.join(out_dir, png_name)
    segments_info, instances = annotate_segments(id_map, segments, categories,
                                                 png_path, image_info['id'])
    save_id_png(png_path, id_map)
    annotation = dict(image_id=image_info['id'], file_name=png_name,
                      segments_info=segments_info)
    return image_info, annotation, instances


def write_panoptic_split(records: Sequence[tuple], categories: Sequence[dict],
                         panoptic_json: str, instance_json: str) -> dict:
    """Write the COCO-panoptic json and the things-only COCO instance json of a split
    from :func:`panoptic_record` results; return counts for the log."""
    images = [rec[0] for rec in records]
    annotations = [rec[1] for rec in records]
    dump_json(panoptic_json, dict(images=images, annotations=annotations,
                                  categories=list(categories)))
    instances = number_annotations([rec[2] for rec in records])
    dump_json(instance_json, dict(images=images, annotations=instances,
                                  categories=[c for c in categories if c['isthing']]))
    return dict(images=len(images),
                segments=sum(len(a['segments_info']) for a in annotations),
                instances=len(instances))


def parse_args(argv, doc: str, root_help: str, out_default: str,
               splits: Sequence[str], split_choices: bool = True) -> argparse.Namespace:
    """The command line shared by the converters."""
    parser = argparse.ArgumentParser(
        description=doc, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument('root', help=root_help)
    parser.add_argument('--out-dir', help=f'output folder (default: {out_default})')
    parser.add_argument('--splits', nargs='+', default=list(splits),
                        choices=list(splits) if split_choices else None)
    parser.add_argument('--nproc', type=int, default=1, help='worker processes')
    return parser.parse_args(argv)


def convert_splits(convert_split: Callable, args: argparse.Namespace, out_dir: str,
                   dataset: str, metainfo: dict, source: str) -> None:
    """Convert every requested split, then write the metainfo file (the dataset
    class's ``METAINFO``, for configs that read the output with plain mmdet)."""
    for split in args.splits:
        counts = convert_split(args.root, split, out_dir, args.nproc)
        print(f'\n{dataset} {split}: {counts}')
    path = osp.join(out_dir, f'{dataset.lower()}_panoptic_metainfo.py')
    write_metainfo(path, metainfo, source)
    print(f'metainfo written to {path}')
