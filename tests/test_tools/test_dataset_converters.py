"""Dataset converters (tools/dataset_converters/) on tiny fixtures in the source formats:
exact segments, categories, areas, boxes, crowd and void handling, RLE masks, bad input,
and that the output loads in mmdet's CocoPanopticDataset / CocoDataset."""
import copy
import json
import os
import os.path as osp
import sys

import numpy as np
import pytest
from mmengine.config import Config
from PIL import Image
from pycocotools import mask as mask_utils

from projects.oneformer.datasets import CityscapesPanopticDataset
from tests.test_tools import dataset_fixtures as fx
from tests.utils import _load_tool

# pycocotools' decode under numpy 2 (upstream)
pytestmark = pytest.mark.filterwarnings(
    'ignore:__array__ implementation:DeprecationWarning')

ade = _load_tool('tools/dataset_converters/ade20k_panoptic.py')
city = _load_tool('tools/dataset_converters/cityscapes_panoptic.py')
coco = _load_tool('tools/dataset_converters/coco_panoptic_derive.py')


def load_json(path):
    with open(path) as f:
        return json.load(f)


def id_png(path):
    from panopticapi.utils import rgb2id
    return rgb2id(np.asarray(Image.open(path).convert('RGB')))


def seg_table(annotation):
    """{segment id: (category_id, area, bbox, iscrowd)}."""
    return {s['id']: (s['category_id'], s['area'], s['bbox'], s['iscrowd'])
            for s in annotation['segments_info']}


def region_mask(shape, region):
    mask = np.zeros(shape, bool)
    mask[region] = True
    return mask


def assert_mmdet_pq_is_100(pan_json, seg_prefix, img_prefix, meta_file,
                           outfile_prefix=None):
    """mmdet's CocoPanopticMetric, set up as the converter's docstring says, scores
    predictions equal to the ground truth at PQ 100: it finds the PNGs, the json areas
    agree with them and the metainfo's labels map back to the json's category ids."""
    import torch
    from mmdet.evaluation.metrics import CocoPanopticMetric
    metainfo = Config.fromfile(meta_file).metainfo
    data = load_json(pan_json)
    label_of = {c['id']: metainfo['classes'].index(c['name']) for c in data['categories']}
    samples = []
    for img, ann in zip(data['images'], data['annotations']):
        ids = id_png(osp.join(seg_prefix, ann['file_name']))
        pred = np.full(ids.shape, len(metainfo['classes']), np.int64)  # void
        for k, seg in enumerate(ann['segments_info'], start=1):
            label = label_of[seg['category_id']]
            thing = metainfo['classes'][label] in metainfo['thing_classes']
            pred[ids == seg['id']] = label + k * 1000 if thing else label
        samples.append(dict(img_id=img['id'], ori_shape=ids.shape,
                            img_path=osp.join(img_prefix, img['file_name']),
                            pred_panoptic_seg=dict(sem_seg=torch.from_numpy(pred)[None])))
    metric = CocoPanopticMetric(ann_file=pan_json, seg_prefix=seg_prefix,
                                outfile_prefix=outfile_prefix, nproc=1)
    metric.dataset_meta = metainfo
    metric.process({}, samples)
    assert metric.compute_metrics(metric.results)['PQ'] == 100.0


def convert_and_load(tool, root, out_rel, name, img_prefix):
    """Run a converter's command line, then load its output as mmdet would for
    panoptic training and mask-AP evaluation, with the metainfo file it wrote."""
    from mmdet.datasets import CocoDataset, CocoPanopticDataset
    tool.main([root, '--splits', 'val'])
    out = osp.join(out_rel, name)
    metainfo = Config.fromfile(osp.join(root, f'{out}_panoptic_metainfo.py')).metainfo
    pan = CocoPanopticDataset(
        data_root=root, ann_file=f'{out}_panoptic_val.json', metainfo=metainfo,
        data_prefix=dict(img=img_prefix, seg=f'{out}_panoptic_val/'), test_mode=True,
        pipeline=[])
    inst = CocoDataset(data_root=root, ann_file=f'{out}_instance_val.json',
                       metainfo=metainfo, data_prefix=dict(img=img_prefix),
                       test_mode=True, pipeline=[])
    return metainfo, pan, inst


# ---------------------------------------------------------------- ADE20K

def test_ade20k_category_table():
    cats = ade.CATEGORIES
    assert len(cats) == 150 and sorted(c['id'] for c in cats) == list(range(150))
    assert [c['isthing'] for c in cats] == [1] * 100 + [0] * 50
    names = {c['id']: c['name'] for c in cats}
    assert (names[0], names[7], names[8], names[90], names[149]) == (
        'wall', 'bed', 'window ', 'plane', 'flag')  # released spellings
    # Mask2Former's datasets/ade20k_instance_catid_mapping.txt, SceneParse150 column
    released_sem_ids = [
        8, 9, 11, 13, 15, 16, 19, 20, 21, 23, 24, 25, 28, 31, 32, 33, 34, 36, 37, 38, 39,
        40, 42, 43, 44, 45, 46, 48, 50, 51, 54, 56, 57, 58, 59, 63, 65, 66, 67, 68, 70,
        71, 72, 73, 74, 75, 76, 77, 79, 81, 82, 83, 84, 86, 87, 88, 89, 90, 91, 93, 94,
        96, 98, 99, 103, 104, 105, 108, 109, 111, 112, 113, 116, 117, 119, 120, 121,
        122, 124, 125, 126, 127, 128, 130, 131, 133, 134, 135, 136, 137, 138, 139, 140,
        143, 144, 145, 147, 148, 149, 150]
    assert ade.INSTANCE_TO_CATEGORY == {
        k: sem - 1 for k, sem in enumerate(released_sem_ids, start=1)}


def test_ade20k_panoptic_and_instances(tmp_path):
    root = fx.write_ade(str(tmp_path / 'ADEChallengeData2016'))
    ade.main([root, '--splits', 'val'])
    pan = load_json(osp.join(root, 'ade20k_panoptic_val.json'))
    assert [c['id'] for c in pan['categories']] == [c['id'] for c in ade.CATEGORIES]
    assert [(i['id'], i['file_name'], i['height'], i['width']) for i in pan['images']] \
        == [(0, 'ADE_val_00000001.jpg', 32, 48), (1, 'ADE_val_00000002.jpg', 32, 48)]
    first, second = pan['annotations']
    assert first['file_name'] == 'ADE_val_00000001.png'
    # wall: 16 rows minus the void block and the person; floor: minus the semantic bed
    # and the person pasted over it; the 2 bed rows without an instance are void.
    assert seg_table(first) == {
        1: (0, 16 * 48 - 32 - 48, [0, 0, 48, 16], 0),
        2: (3, 16 * 48 - 96 - 48, [0, 16, 48, 16], 0),
        3: (7, 72, [2, 18, 12, 6], 0),
        4: (12, 48, [30, 6, 6, 8], 0),
        5: (12, 48, [40, 26, 8, 6], 0)}
    # the tree (id 2) lies entirely under the plane instance, so it is no segment
    assert seg_table(second) == {
        1: (2, 480 - 32, [0, 0, 48, 10], 0),
        3: (6, 22 * 48 - 160, [0, 10, 48, 22], 0),
        4: (20, 160, [10, 20, 20, 8], 0),
        5: (90, 32, [2, 2, 8, 4], 0)}
    ids = id_png(osp.join(root, 'ade20k_panoptic_val', 'ADE_val_00000001.png'))
    assert (ids[fx.box(24, 26, 2, 14)] == 0).all()
    assert (ids[fx.box(0, 4, 40, 48)] == 0).all()
    assert (ids == 0).sum() == 24 + 32
    assert_mmdet_pq_is_100(osp.join(root, 'ade20k_panoptic_val.json'),
                           osp.join(root, 'ade20k_panoptic_val'),
                           osp.join(root, 'images', 'validation'),
                           osp.join(root, 'ade20k_panoptic_metainfo.py'))

    inst = load_json(osp.join(root, 'ade20k_instance_val.json'))
    assert inst['images'] == pan['images']
    assert [c['id'] for c in inst['categories']] == list(
        ade.INSTANCE_TO_CATEGORY.values())
    assert [(a['id'], a['image_id'], a['category_id'], a['area'], a['iscrowd'])
            for a in inst['annotations']] == [
        (1, 0, 7, 72, 0), (2, 0, 12, 48, 0), (3, 0, 12, 48, 0),
        (4, 1, 20, 160, 0), (5, 1, 90, 32, 0)]
    plane = inst['annotations'][4]
    assert plane['bbox'] == [2, 2, 8, 4]
    np.testing.assert_array_equal(mask_utils.decode(plane['segmentation']),
                                  region_mask(fx.ADE_SIZE, fx.box(2, 6, 2, 10)))


def test_ade20k_output_loads_in_mmdet(tmp_path):
    metainfo, pan, inst = convert_and_load(ade, fx.write_ade(str(tmp_path / 'ade')), '',
                                           'ade20k', 'images/validation/')
    assert len(metainfo['classes']) == 150 and len(metainfo['thing_classes']) == 100
    assert metainfo['classes'][:2] == ('bed', 'window ')
    assert metainfo['classes'][100] == 'wall' and len(metainfo['palette']) == 150
    info = pan.get_data_info(0)
    assert osp.isfile(info['seg_map_path']) and osp.isfile(info['img_path'])
    labels = [metainfo['classes'][s['category']] for s in info['segments_info']]
    assert labels == ['wall', 'floor', 'bed', 'person', 'person']
    assert [s['is_thing'] for s in info['segments_info']] == [0, 0, 1, 1, 1]
    inst_labels = [metainfo['classes'][i['bbox_label']]
                   for i in inst.get_data_info(1)['instances']]
    assert inst_labels == ['car', 'plane']


def _drop_instance_png(root):
    os.remove(osp.join(root, 'annotations_instance', 'validation',
                       'ADE_val_00000002.png'))


def _edit_ade(field, edit):
    def apply(root):
        spec = copy.deepcopy(fx.ADE_IMAGES['ADE_val_00000001'])
        spec[field] = edit(spec[field])
        fx.write_ade(root, {'ADE_val_00000001': spec})
    return apply


@pytest.mark.parametrize('corrupt,error,match', [
    (_drop_instance_png, FileNotFoundError,
     r'annotations_instance/validation/ADE_val_00000002\.png'),
    (_edit_ade('instances', lambda v: v[:1] + [(v[1][0], 101, 2)] + v[2:]), ValueError,
     r'ADE_val_00000001\.png: instance 2 has unknown instance category 101'),
    (_edit_ade('instances', lambda v: v + [(fx.box(0, 1, 0, 1), 7, 5)]), ValueError,
     r'ADE_val_00000001\.png: instance 5 has several categories \[4, 7\]'),
    (_edit_ade('semantic', lambda v: v + [(fx.box(0, 1, 0, 1), 151)]), ValueError,
     r'annotations/validation/ADE_val_00000001\.png: unknown class index 151'),
])
def test_ade20k_bad_input(tmp_path, corrupt, error, match):
    root = fx.write_ade(str(tmp_path / 'ade'))
    corrupt(root)
    with pytest.raises(error, match=match):
        ade.convert_split(root, 'val', str(tmp_path / 'out'))


# ---------------------------------------------------------------- Cityscapes

def test_cityscapes_categories():
    cats = city.CATEGORIES  # the table of projects/oneformer/datasets/cityscapes.py
    assert [(c['id'], c['name'], c['isthing']) for c in cats] == [
        (24, 'person', 1), (25, 'rider', 1), (26, 'car', 1), (27, 'truck', 1),
        (28, 'bus', 1), (31, 'train', 1), (32, 'motorcycle', 1), (33, 'bicycle', 1),
        (7, 'road', 0), (8, 'sidewalk', 0), (11, 'building', 0), (12, 'wall', 0),
        (13, 'fence', 0), (17, 'pole', 0), (19, 'traffic light', 0),
        (20, 'traffic sign', 0), (21, 'vegetation', 0), (22, 'terrain', 0),
        (23, 'sky', 0)]
    # the written table agrees with cityscapesscripts' labels: the classes evaluated
    # (not ignoreInEval), their names, things (hasInstances), supercategories, colours
    id2label = city.cityscapes_labels()
    evaluated = sorted(lab.id for lab in id2label.values() if not lab.ignoreInEval)
    assert sorted(c['id'] for c in cats) == evaluated
    for c in cats:
        lab = id2label[c['id']]
        assert (c['name'], c['isthing'], c['supercategory'], c['color']) == (
            lab.name, int(lab.hasInstances), lab.category, list(lab.color))
    # things first, each group in train-id order
    for group in (cats[:8], cats[8:]):
        train_ids = [id2label[c['id']].trainId for c in group]
        assert train_ids == sorted(train_ids)
    # the release's class order (classifier rows, texts) is the train-id order
    by_train_id = sorted((lab.trainId, lab.name) for lab in id2label.values()
                         if not lab.ignoreInEval)
    assert CityscapesPanopticDataset.METAINFO['release_classes'] == tuple(
        name for _, name in by_train_id)


def test_cityscapes_panoptic_and_instances(tmp_path):
    root = fx.write_cityscapes(str(tmp_path / 'cityscapes'))
    city.main([root, '--splits', 'val'])
    out = osp.join(root, 'gtFine')
    pan = load_json(osp.join(out, 'cityscapes_panoptic_val.json'))
    assert [i['file_name'] for i in pan['images']] == [
        'aachen/aachen_000000_000019_leftImg8bit.png',
        'bremen/bremen_000001_000002_leftImg8bit.png']
    first, second = pan['annotations']
    assert first['file_name'] == pan['images'][0]['file_name']
    road = 24 * 64 - 128 - 64 - 128 - 16 - 256 - 32
    assert seg_table(first) == {
        7: (7, road, [0, 8, 64, 20], 0),
        23: (23, 512 - 16, [0, 0, 64, 8], 0),
        26: (26, 128, [40, 20, 16, 8], 1),  # car group: crowd, kept
        24000: (24, 32, [56, 4, 4, 8], 0),
        26000: (26, 128, [4, 12, 16, 8], 0),
        26001: (26, 64, [24, 12, 8, 8], 0)}
    assert sorted(seg_table(second)) == [21, 25000, 33000]
    ids = id_png(osp.join(out, 'cityscapes_panoptic_val', first['file_name']))
    # ego vehicle and caravan are void
    assert (ids[fx.box(28, 32, 0, 64)] == 0).all()
    assert (ids[fx.box(22, 26, 4, 12)] == 0).all()
    assert_mmdet_pq_is_100(osp.join(out, 'cityscapes_panoptic_val.json'),
                           osp.join(out, 'cityscapes_panoptic_val'),
                           osp.join(root, 'leftImg8bit', 'val'),
                           osp.join(out, 'cityscapes_panoptic_metainfo.py'),
                           outfile_prefix=str(tmp_path / 'pq' / 'results'))

    inst = load_json(osp.join(out, 'cityscapes_instance_val.json'))
    assert [c['id'] for c in inst['categories']] == [24, 25, 26, 27, 28, 31, 32, 33]
    assert [(a['id'], a['image_id'], a['category_id'], a['area'], a['iscrowd'])
            for a in inst['annotations']] == [
        (1, 0, 26, 128, 1), (2, 0, 24, 32, 0), (3, 0, 26, 128, 0), (4, 0, 26, 64, 0),
        (5, 1, 25, 32, 0), (6, 1, 33, 32, 0)]
    np.testing.assert_array_equal(
        mask_utils.decode(inst['annotations'][0]['segmentation']),
        region_mask(fx.CITY_SIZE, fx.box(20, 28, 40, 56)))


def test_cityscapes_matches_create_panoptic_imgs(tmp_path):
    """Same segments and PNG ids as cityscapesscripts' own preparation script."""
    from cityscapesscripts.preparation.createPanopticImgs import convert2panoptic
    root = fx.write_cityscapes(str(tmp_path / 'cityscapes'))
    ref_dir = str(tmp_path / 'reference')
    os.makedirs(ref_dir)
    convert2panoptic(osp.join(root, 'gtFine'), ref_dir, setNames=['val'])
    city.convert_split(root, 'val', str(tmp_path / 'ours'))
    ref = load_json(osp.join(ref_dir, 'cityscapes_panoptic_val.json'))
    ours = load_json(str(tmp_path / 'ours' / 'cityscapes_panoptic_val.json'))
    assert sorted(c['id'] for c in ref['categories']) == sorted(
        c['id'] for c in ours['categories'])
    for ref_ann, our_ann in zip(ref['annotations'], ours['annotations']):
        assert seg_table(our_ann) == seg_table(ref_ann)
        np.testing.assert_array_equal(
            id_png(osp.join(tmp_path, 'ours', 'cityscapes_panoptic_val',
                            our_ann['file_name'])),
            id_png(osp.join(ref_dir, 'cityscapes_panoptic_val', ref_ann['file_name'])))


def test_cityscapes_output_loads_in_mmdet(tmp_path):
    metainfo, pan, inst = convert_and_load(
        city, fx.write_cityscapes(str(tmp_path / 'cityscapes')), 'gtFine', 'cityscapes',
        'leftImg8bit/val/')
    assert metainfo['thing_classes'] == ('person', 'rider', 'car', 'truck', 'bus',
                                         'train', 'motorcycle', 'bicycle')
    info = pan.get_data_info(0)
    assert osp.isfile(info['seg_map_path']) and osp.isfile(info['img_path'])
    assert [metainfo['classes'][s['category']] for s in info['segments_info']] == [
        'road', 'sky', 'car', 'person', 'car', 'car']
    # mmdet turns a crowd thing into an ignored box and a non-thing segment
    assert [s['is_thing'] for s in info['segments_info']] == [0, 0, False, 1, 1, 1]
    assert [(metainfo['classes'][i['bbox_label']], i['ignore_flag'])
            for i in inst.get_data_info(0)['instances']] == [
        ('car', 1), ('person', 0), ('car', 0), ('car', 0)]


def _city_regions(*extra):
    regions = dict(fx.CITY_IMAGES)
    key = ('aachen', 'aachen_000000_000019')
    regions[key] = regions[key] + list(extra)
    return regions


@pytest.mark.parametrize('images,drop,error,match', [
    (fx.CITY_IMAGES, 'bremen/bremen_000001_000002_gtFine_instanceIds.png',
     FileNotFoundError, r'gtFine/val/bremen/bremen_000001_000002_gtFine_instanceIds'),
    (_city_regions((fx.box(0, 1, 0, 1), 40123)), None, ValueError,
     r'aachen_000000_000019_gtFine_instanceIds\.png: unknown label id 40 '
     r'\(pixel value 40123\)'),
])
def test_cityscapes_bad_input(tmp_path, images, drop, error, match):
    root = fx.write_cityscapes(str(tmp_path / 'cityscapes'), images)
    if drop:
        os.remove(osp.join(root, 'gtFine', 'val', drop))
    with pytest.raises(error, match=match):
        city.convert_split(root, 'val', str(tmp_path / 'out'))


def test_cityscapes_without_cityscapesscripts(monkeypatch):
    monkeypatch.setitem(sys.modules, 'cityscapesscripts.helpers.labels', None)
    with pytest.raises(ImportError, match=r'pip install cityscapesscripts$'):
        city.cityscapes_labels()


# ---------------------------------------------------------------- COCO

def test_coco_semantic_and_instances(tmp_path):
    fx.write_coco(str(tmp_path))
    coco.main([str(tmp_path), '--splits', 'val2017'])
    ann_dir = tmp_path / 'annotations'
    semantic = np.asarray(Image.open(ann_dir / 'panoptic_semseg_val2017' /
                                     '000000000139.png'))
    assert semantic.dtype == np.uint8 and semantic.shape == fx.COCO_SIZE
    # contiguous labels in things-first order: person 0, car 1, tree 2, sky 3
    expected = np.full(fx.COCO_SIZE, 255, np.uint8)
    for seg_id, cat, _, region in fx.COCO_IMAGES[139]:  # painted in fixture order
        expected[region] = {None: 255, 1: 0, 3: 1, 184: 2, 187: 3}[cat]
    np.testing.assert_array_equal(semantic, expected)
    assert semantic[fx.box(16, 22, 20, 30)].tolist() == [[1] * 10] * 6  # crowd car
    assert (semantic[fx.box(0, 2, 28, 32)] == 255).all()  # void stays void

    inst = load_json(ann_dir / 'panoptic2instances_val2017.json')
    assert [c['id'] for c in inst['categories']] == [1, 3]
    assert [i['id'] for i in inst['images']] == [139, 285]
    assert [(a['id'], a['image_id'], a['category_id'], a['area'], a['bbox'], a['iscrowd'])
            for a in inst['annotations']] == [
        (1, 139, 1, 72, [4, 4, 6, 12], 0),     # box from the mask, not the json
        (2, 139, 3, 60, [20, 16, 10, 6], 1),   # crowd kept as crowd
        (3, 285, 1, 48, [2, 2, 6, 8], 0), (4, 285, 1, 64, [20, 10, 8, 8], 0)]
    np.testing.assert_array_equal(
        mask_utils.decode(inst['annotations'][0]['segmentation']),
        region_mask(fx.COCO_SIZE, fx.box(4, 16, 4, 10)))


def test_coco_parallel_matches_serial(tmp_path, monkeypatch):
    # worker processes unpickle the worker function by its module name
    monkeypatch.setitem(sys.modules, coco.__name__, coco)
    pan_json = fx.write_coco(str(tmp_path))
    png_dir = coco.find_png_dir(str(tmp_path), 'val2017')
    outs = []
    for nproc in (1, 2):
        out = tmp_path / f'nproc{nproc}'
        coco.derive_split(pan_json, png_dir, str(out / 'sem'), str(out / 'inst.json'),
                          nproc=nproc)
        outs.append(out)
    assert load_json(outs[0] / 'inst.json') == load_json(outs[1] / 'inst.json')
    for name in os.listdir(outs[0] / 'sem'):
        np.testing.assert_array_equal(np.asarray(Image.open(outs[0] / 'sem' / name)),
                                      np.asarray(Image.open(outs[1] / 'sem' / name)))


def _edit_segments(edit):
    def apply(data):
        edit(data['annotations'][0]['segments_info'])
    return apply


@pytest.mark.parametrize('corrupt,error,match', [
    (_edit_segments(lambda s: s.append(dict(id=999, category_id=1, iscrowd=0))),
     ValueError, r'000000000139\.png: segment id 999 \(category_id 1\) is absent'),
    (_edit_segments(lambda s: s[0].update(category_id=42)),
     ValueError, r'000000000139\.png: segment 5069153 has unknown category_id 42'),
    (_edit_segments(lambda s: s.pop(1)),
     ValueError, r'000000000139\.png: segment ids \[2\] are in the PNG'),
    (lambda data: data['annotations'][1].update(file_name='missing.png'),
     FileNotFoundError, r'panoptic_val2017/missing\.png'),
])
def test_coco_bad_input(tmp_path, corrupt, error, match):
    pan_json = fx.write_coco(str(tmp_path))
    data = load_json(pan_json)
    corrupt(data)
    with open(pan_json, 'w') as f:
        json.dump(data, f)
    with pytest.raises(error, match=match):
        coco.derive_split(pan_json, coco.find_png_dir(str(tmp_path), 'val2017'),
                          str(tmp_path / 'sem'), str(tmp_path / 'inst.json'))


def test_coco_png_folder_layouts(tmp_path):
    with pytest.raises(FileNotFoundError, match='panoptic_val2017'):
        coco.find_png_dir(str(tmp_path), 'val2017')
    (tmp_path / 'panoptic_val2017').mkdir()  # detectron2 layout
    found = coco.find_png_dir(str(tmp_path), 'val2017')
    assert found == str(tmp_path / 'panoptic_val2017')
