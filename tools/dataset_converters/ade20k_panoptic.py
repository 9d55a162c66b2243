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

Use with mmdet (the PNG of an image is looked up as its ``file_name`` with .png);
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

sys.path.insert(0, osp.dirname(osp.abspath(__file__)))  # the shared module beside us
from _panoptic_common import (  # noqa: E402
    convert_splits, image_size, panoptic_record, parse_args, read_png, run_per_image,
    things_first, write_panoptic_split)

# The released ADE20K panoptic category list (Mask2Former/OneFormer
# ``ADE20K_150_CATEGORIES``): (name, isthing, colour) for category ids 0..149.
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
CATEGORIES = things_first([
    dict(id=cat_id, name=name, isthing=isthing, color=list(color))
    for cat_id, (name, isthing, color) in enumerate(ADE20K_CATEGORIES)])
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
    convert_splits(convert_split, args, args.out_dir or args.root, 'ADE20K', CATEGORIES,
                   'tools/dataset_converters/ade20k_panoptic.py')


if __name__ == '__main__':
    main()
