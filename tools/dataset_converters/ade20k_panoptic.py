"""ADE20K (SceneParsing 150 classes + the 100-class instance release) -> COCO panoptic
json + PNGs and a things-only COCO instance json (RLE), for PQ and mask AP.

Input (``ROOT`` = the extracted ``ADEChallengeData2016`` with the instance release,
http://sceneparsing.csail.mit.edu/data/ChallengeData2017/annotations_instance.tar,
untarred into it)::

    images/{training,validation}/ADE_*.jpg
    annotations/{training,validation}/ADE_*.png           uint8: 0 other, 1..150 classes
    annotations_instance/{training,validation}/ADE_*.png  RGB: R = category 1..100 of the
        100-class instance list, G = instance id (0 = no instance; unique per image)

Output (in ``--out-dir``, default ``ROOT``)::

    ade20k_panoptic_{train,val}.json, ade20k_panoptic_{train,val}/ADE_*.png
    ade20k_instance_{train,val}.json     thing instances only, RLE masks
    ade20k_panoptic_metainfo.py          ``metainfo = dict(classes=..., ...)`` for configs

Command::

    python tools/dataset_converters/ade20k_panoptic.py data/ADEChallengeData2016 --nproc 8

Conversion, as the released Mask2Former/OneFormer ``prepare_ade20k_{pan,ins}_seg.py``:
one stuff segment per stuff class of the semantic map; one thing segment per instance id
of the instance map, pasted over the stuff where the two annotations overlap; instance
category k is the k-th thing class in id order (the released
``ade20k_instance_catid_mapping.txt`` is exactly this); class 0 and thing-class pixels
of the semantic map that no instance covers are void. Category ids are the released
0..149 (semantic index - 1) with the released names (``"window "`` keeps its trailing
space). Differences, all deliberate: segment ids are 1..n per image (released: random
colours); image ids are integers, the sorted file index (released: the file stem);
areas and boxes are measured after the things are pasted (released: stuff before);
categories are listed things first, which is the order mmdet assigns labels in.

The OneFormer configs read this output with ``OneFormerADE20KPanopticDataset``, whose
METAINFO is that metainfo (``configs/_base_/datasets/ade20k_panoptic.py``). Use with
plain mmdet (the PNG of an image is looked up as its ``file_name`` with .png);
``metainfo`` is the dict in ``ade20k_panoptic_metainfo.py`` (paste it into the config,
or list that file in the config's ``_base_``)::

    train_dataloader = dict(dataset=dict(
        type='CocoPanopticDataset', data_root='data/ADEChallengeData2016/',
        metainfo=metainfo, ann_file='ade20k_panoptic_train.json',
        data_prefix=dict(img='images/training/', seg='ade20k_panoptic_train/')))
    val_evaluator = [
        dict(type='CocoPanopticMetric',
             ann_file='data/ADEChallengeData2016/ade20k_panoptic_val.json',
             seg_prefix='data/ADEChallengeData2016/ade20k_panoptic_val/'),
        dict(type='CocoMetric', metric='segm',
             ann_file='data/ADEChallengeData2016/ade20k_instance_val.json')]

mIoU needs no conversion: mmseg's ``ADE20KDataset`` reads ``annotations/`` directly.
"""
import functools
import glob
import os.path as osp
import sys

import numpy as np

from projects.oneformer.datasets.ade20k import (
    ADE20K_CATEGORIES, ADE20K_PANOPTIC_CATEGORIES, OneFormerADE20KPanopticDataset)

sys.path.insert(0, osp.dirname(osp.abspath(__file__)))  # the shared module beside us
from _panoptic_common import (  # noqa: E402
    convert_splits, image_size, panoptic_record, parse_args, read_png, run_per_image,
    write_panoptic_split)

# The category table is the dataset module's (projects/oneformer/datasets/ade20k.py):
# the json categories are its things-first list, the metainfo file its METAINFO.
CATEGORIES = ADE20K_PANOPTIC_CATEGORIES
CATEGORY_BY_ID = {c['id']: c for c in CATEGORIES}
# instance-release category k (1..100) -> category id
INSTANCE_TO_CATEGORY = {
    k: c['id'] for k, c in enumerate((c for c in CATEGORIES if c['isthing']), start=1)}
NUM_SEMANTIC = len(ADE20K_CATEGORIES)
SPLITS = {'train': 'training', 'val': 'validation'}


def ade_segments(semantic: np.ndarray, instance: np.ndarray, sem_path: str,
                 ins_path: str):
    """Segment-id map and segments (id, category_id, iscrowd) of one image."""
    if semantic.ndim != 2:
        raise ValueError(f'{sem_path}: expected a single-channel class map, '
                         f'got shape {semantic.shape}')
    if instance.ndim != 3 or instance.shape[:2] != semantic.shape:
        raise ValueError(f'{ins_path}: expected an RGB map of size {semantic.shape}, '
                         f'got shape {instance.shape}')
    classes = np.unique(semantic)
    if classes[-1] > NUM_SEMANTIC:
        raise ValueError(f'{sem_path}: unknown class index {int(classes[-1])} '
                         f'(ADE20K has 1..{NUM_SEMANTIC}, 0 = other)')
    id_map = np.zeros(semantic.shape, np.int64)
    segments = []
    for cls in classes:
        cat_id = int(cls) - 1
        if cls == 0 or CATEGORY_BY_ID[cat_id]['isthing']:
            continue  # void, or a thing: things come from the instance map
        segments.append(dict(id=len(segments) + 1, category_id=cat_id, iscrowd=0))
        id_map[semantic == cls] = segments[-1]['id']
    inst_cls, inst_ids = instance[..., 0], instance[..., 1]
    for inst in np.unique(inst_ids):
        if inst == 0:
            continue
        mask = inst_ids == inst
        kinds = np.unique(inst_cls[mask])
        if len(kinds) != 1:
            raise ValueError(f'{ins_path}: instance {int(inst)} has several '
                             f'categories {kinds.tolist()}')
        if int(kinds[0]) not in INSTANCE_TO_CATEGORY:
            raise ValueError(f'{ins_path}: instance {int(inst)} has unknown instance '
                             f'category {int(kinds[0])} (valid: 1..100)')
        segments.append(dict(id=len(segments) + 1,
                             category_id=INSTANCE_TO_CATEGORY[int(kinds[0])], iscrowd=0))
        id_map[mask] = segments[-1]['id']
    # a stuff region that the instances cover completely is no longer a segment
    present = set(np.unique(id_map).tolist())
    return id_map, [s for s in segments if s['id'] in present]


def _convert_image(task, out_dir: str, split: str):
    image_id, img_path, sem_path, ins_path = task
    height, width = image_size(img_path)
    semantic = read_png(sem_path, 'semantic annotation')
    instance = read_png(ins_path, 'instance annotation')
    if semantic.shape[:2] != (height, width):
        raise ValueError(f'{sem_path}: size {semantic.shape[:2]} differs from the '
                         f'image size {(height, width)} of {img_path}')
    id_map, segments = ade_segments(semantic, instance, sem_path, ins_path)
    stem = osp.splitext(osp.basename(img_path))[0]
    image_info = dict(id=image_id, file_name=osp.basename(img_path), height=height,
                      width=width)
    return panoptic_record(id_map, segments, CATEGORY_BY_ID, image_info,
                           osp.join(out_dir, f'ade20k_panoptic_{split}'), stem + '.png')


def convert_split(root: str, split: str, out_dir: str, nproc: int = 1) -> dict:
    """Convert one split ('train' or 'val'); return counts."""
    folder = SPLITS[split]
    images = sorted(glob.glob(osp.join(root, 'images', folder, '*.jpg')))
    if not images:
        raise FileNotFoundError(f'no .jpg images in {osp.join(root, "images", folder)}')
    tasks = []
    for image_id, img_path in enumerate(images):
        png = osp.splitext(osp.basename(img_path))[0] + '.png'
        tasks.append((image_id, img_path, osp.join(root, 'annotations', folder, png),
                      osp.join(root, 'annotations_instance', folder, png)))
    print(f'ADE20K {split}: {len(tasks)} images')
    records = run_per_image(
        functools.partial(_convert_image, out_dir=out_dir, split=split), tasks, nproc)
    return write_panoptic_split(records, CATEGORIES,
                                osp.join(out_dir, f'ade20k_panoptic_{split}.json'),
                                osp.join(out_dir, f'ade20k_instance_{split}.json'))


def main(argv=None) -> None:
    args = parse_args(argv, __doc__, 'the ADEChallengeData2016 folder', 'ROOT',
                      sorted(SPLITS))
    convert_splits(convert_split, args, args.out_dir or args.root, 'ADE20K',
                   OneFormerADE20KPanopticDataset.METAINFO,
                   'tools/dataset_converters/ade20k_panoptic.py')


if __name__ == '__main__':
    main()
