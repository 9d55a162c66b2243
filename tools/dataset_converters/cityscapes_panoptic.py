"""Cityscapes gtFine -> COCO panoptic json + PNGs and a things-only COCO instance json
(RLE), for PQ and mask AP. Needs ``cityscapesscripts`` (``pip install cityscapesscripts``)
for the official label table.

Input (``ROOT`` = the Cityscapes folder with ``gtFine_trainvaltest`` and
``leftImg8bit_trainvaltest`` extracted)::

    leftImg8bit/{train,val}/<city>/<city>_<seq>_<frame>_leftImg8bit.png
    gtFine/{train,val}/<city>/<city>_<seq>_<frame>_gtFine_instanceIds.png
        uint16: label id for stuff and for crowd regions of thing classes,
        label id * 1000 + k for thing instance k

Output (in ``--out-dir``, default ``ROOT/gtFine``)::

    cityscapes_panoptic_{train,val}.json
    cityscapes_panoptic_{train,val}/<city>/<city>_<seq>_<frame>_leftImg8bit.png
    cityscapes_instance_{train,val}.json     thing instances only, RLE masks (COCO AP)
    cityscapes_panoptic_metainfo.py          ``metainfo = dict(classes=..., ...)``

Command::

    python tools/dataset_converters/cityscapes_panoptic.py data/cityscapes --nproc 8

Conversion, as ``cityscapesscripts/preparation/createPanopticImgs.py`` with label ids:
the segment id of a pixel is its ``instanceIds`` value; classes with ``ignoreInEval``
(ego vehicle, parking, caravan, ...) are void; a value below 1000 of a class with
instances is a crowd region (``iscrowd=1``). The 19 evaluated classes are the
categories, with their label ids (7..33) as category ids, listed things first (8
things, 11 stuff). Deliberate differences: integer image ids (the sorted file index;
released: the file stem) and the PNG layout, which mirrors the images because mmdet's
``CocoPanopticDataset`` looks an image's PNG up as ``seg_prefix + file_name``.

The OneFormer configs read this output with ``CityscapesPanopticDataset``, whose
METAINFO is that metainfo (``configs/_base_/datasets/cityscapes_panoptic.py``). Use
with plain mmdet (``metainfo`` is the dict in ``cityscapes_panoptic_metainfo.py``)::

    train_dataloader = dict(dataset=dict(
        type='CocoPanopticDataset', data_root='data/cityscapes/', metainfo=metainfo,
        ann_file='gtFine/cityscapes_panoptic_train.json',
        data_prefix=dict(img='leftImg8bit/train/',
                         seg='gtFine/cityscapes_panoptic_train/')))
    val_evaluator = [
        dict(type='CocoPanopticMetric',
             ann_file='data/cityscapes/gtFine/cityscapes_panoptic_val.json',
             seg_prefix='data/cityscapes/gtFine/cityscapes_panoptic_val/',
             outfile_prefix='work_dirs/cityscapes_pq/results'),
        # instance AP as released: cityscapesscripts on the original
        # gtFine/val/<city>/*_gtFine_instanceIds.png (found from the image paths)
        dict(type='CityScapesMetric', seg_prefix='data/cityscapes/gtFine/val/',
             outfile_prefix='work_dirs/cityscapes_ap')]

``outfile_prefix`` matters: without it mmdet 3.3.0's ``CocoPanopticMetric`` looks the
ground-truth PNG up by the image's base name only, which misses the ``<city>/`` folder.
With numpy >= 2.4, ``CityScapesMetric`` needs ``import projects.common`` first
(cityscapesscripts calls the removed ``np.in1d``; see projects/common/
compat.py). COCO-style mask AP (not what the release reports for Cityscapes) is
``CocoMetric`` with ``ann_file='data/cityscapes/gtFine/cityscapes_instance_val.json'``.
mIoU: ``SemSegMetric`` on the semantic map of the panoptic PNGs gives the released
Cityscapes pixel-level mIoU (configs/_base_/datasets/cityscapes_panoptic.py); mmseg's
semantic configs use mmseg's own ``tools/dataset_converters/cityscapes.py``
(``*_labelTrainIds.png``).
"""
import functools
import glob
import os.path as osp
import sys

import numpy as np

from projects.oneformer.datasets.cityscapes import (CITYSCAPES_CATEGORIES,
                                                    CityscapesPanopticDataset)

sys.path.insert(0, osp.dirname(osp.abspath(__file__)))  # the shared module beside us
from _panoptic_common import (  # noqa: E402
    convert_splits, image_size, panoptic_record, parse_args, read_png, run_per_image,
    write_panoptic_split)

IMG_SUFFIX = '_leftImg8bit.png'
INSTANCE_SUFFIX = '_gtFine_instanceIds.png'
INSTANCE_OFFSET = 1000  # Cityscapes: instance value = label id * 1000 + k
# The category table is the dataset module's (projects/oneformer/datasets/
# cityscapes.py): the 19 evaluated classes, things first; the metainfo file is its
# METAINFO. cityscapesscripts' table still decides, per pixel value, void and crowd.
CATEGORIES = CITYSCAPES_CATEGORIES
CATEGORY_BY_ID = {c['id']: c for c in CATEGORIES}


def cityscapes_labels():
    """cityscapesscripts' ``id2label`` table, or a one-line install hint."""
    try:
        from cityscapesscripts.helpers.labels import id2label
    except ImportError:
        raise ImportError('cityscapesscripts is required for the Cityscapes label '
                          'table: pip install cityscapesscripts') from None
    return id2label


def cityscapes_segments(inst_map: np.ndarray, id2label, path: str):
    """Segment-id map and segments (id, category_id, iscrowd) of one instanceIds map."""
    if inst_map.ndim != 2:
        raise ValueError(f'{path}: expected a single-channel instance id map, got '
                         f'shape {inst_map.shape}')
    inst_map = inst_map.astype(np.int64)
    id_map = np.zeros(inst_map.shape, np.int64)
    segments = []
    for value in np.unique(inst_map).tolist():
        label_id = value if value < INSTANCE_OFFSET else value // INSTANCE_OFFSET
        label = id2label.get(label_id)
        if label is None:
            raise ValueError(f'{path}: unknown label id {label_id} (pixel value '
                             f'{value})')
        if label.ignoreInEval:
            continue  # void
        crowd = int(value < INSTANCE_OFFSET and label.hasInstances)
        segments.append(dict(id=value, category_id=label.id, iscrowd=crowd))
        id_map[inst_map == value] = value
    return id_map, segments


def _convert_image(task, id2label, category_by_id, img_dir: str, gt_dir: str,
                   out_dir: str):
    image_id, img_path = task
    rel = osp.relpath(img_path, img_dir)  # <city>/<name>_leftImg8bit.png
    inst_path = osp.join(gt_dir, rel[:-len(IMG_SUFFIX)] + INSTANCE_SUFFIX)
    height, width = image_size(img_path)
    inst_map = read_png(inst_path, 'instanceIds annotation')
    if inst_map.shape[:2] != (height, width):
        raise ValueError(f'{inst_path}: size {inst_map.shape[:2]} differs from the '
                         f'image size {(height, width)} of {img_path}')
    id_map, segments = cityscapes_segments(inst_map, id2label, inst_path)
    image_info = dict(id=image_id, file_name=rel, height=height, width=width)
    return panoptic_record(id_map, segments, category_by_id, image_info, out_dir, rel)


def convert_split(root: str, split: str, out_dir: str, nproc: int = 1) -> dict:
    """Convert one split ('train' or 'val'); return counts."""
    id2label = cityscapes_labels()
    img_dir = osp.join(root, 'leftImg8bit', split)
    images = sorted(glob.glob(osp.join(img_dir, '*', '*' + IMG_SUFFIX)))
    if not images:
        raise FileNotFoundError(f'no *{IMG_SUFFIX} images in {img_dir}/<city>/')
    print(f'Cityscapes {split}: {len(images)} images')
    worker = functools.partial(
        _convert_image, id2label=id2label, category_by_id=CATEGORY_BY_ID,
        img_dir=img_dir, gt_dir=osp.join(root, 'gtFine', split),
        out_dir=osp.join(out_dir, f'cityscapes_panoptic_{split}'))
    records = run_per_image(worker, list(enumerate(images)), nproc)
    return write_panoptic_split(records, CATEGORIES,
                                osp.join(out_dir, f'cityscapes_panoptic_{split}.json'),
                                osp.join(out_dir, f'cityscapes_instance_{split}.json'))


def main(argv=None) -> None:
    args = parse_args(argv, __doc__, 'the Cityscapes folder (leftImg8bit/, gtFine/)',
                      'ROOT/gtFine', ['train', 'val'])
    convert_splits(convert_split, args, args.out_dir or osp.join(args.root, 'gtFine'),
                   'Cityscapes', CityscapesPanopticDataset.METAINFO,
                   'tools/dataset_converters/cityscapes_panoptic.py')


if __name__ == '__main__':
    main()
