"""The dataset base configs (configs/_base_/datasets/{ade20k,cityscapes,coco}_panoptic
.py) on tiny fixtures converted by tools/dataset_converters: the released recipe numbers,
the train pipelines' output (crop, pad, sampled task, targets and texts), the test
resize, the dataset classes' metainfo, and the three evaluators scoring a perfect
prediction at 100 through the configs' paths."""
import json
import os.path as osp
import shutil

import numpy as np
import open_clip
import pytest
import torch
from mmdet.datasets import CocoPanopticDataset
from mmdet.evaluation.functional import INSTANCE_OFFSET
from mmdet.registry import DATASETS
from mmdet.structures.mask import mask2bbox
from mmengine.config import Config
from mmengine.evaluator import Evaluator
from mmengine.registry import init_default_scope
from mmengine.structures import InstanceData, PixelData
from mmseg.datasets.transforms import PhotoMetricDistortion as SegPhotoMetric
from panopticapi.utils import rgb2id
from PIL import Image

import projects.oneformer  # noqa: F401
from projects.oneformer.datasets import (CityscapesPanopticDataset,
                                         OneFormerADE20KPanopticDataset,
                                         OneFormerPanopticDataset)
from projects.oneformer.datasets import ade20k as ade_data
from projects.oneformer.datasets import cityscapes as city_data
from projects.oneformer.tasks import TASK_SPECS
from tests.test_tools import dataset_fixtures as fx
from tests.utils import REPO, _load_tool

# pycocotools' decode under numpy 2 (upstream)
pytestmark = pytest.mark.filterwarnings(
    'ignore:__array__ implementation:DeprecationWarning')

init_default_scope('mmdet')
ade = _load_tool('tools/dataset_converters/ade20k_panoptic.py')
city = _load_tool('tools/dataset_converters/cityscapes_panoptic.py')
coco = _load_tool('tools/dataset_converters/coco_panoptic_derive.py')


# ---------------------------------------------------------------- fixtures

@pytest.fixture(scope='module')
def ade_root(tmp_path_factory):
    root = fx.write_ade(str(tmp_path_factory.mktemp('ade')))
    # the fixture has a validation split only: train on the same two images
    for folder in ('images', 'annotations', 'annotations_instance'):
        shutil.copytree(osp.join(root, folder, 'validation'),
                        osp.join(root, folder, 'training'))
    ade.main([root])
    return root


@pytest.fixture(scope='module')
def city_root(tmp_path_factory):
    root = str(tmp_path_factory.mktemp('cityscapes'))
    for split in ('train', 'val'):
        fx.write_cityscapes(root, split=split)
    city.main([root])
    return root


@pytest.fixture(scope='module')
def coco_root(tmp_path_factory):
    """The COCO fixture (2 images per split) with images and all 133 categories in
    mmdet's order, which mmdet's labels follow; the fixture's four keep their ids."""
    root = str(tmp_path_factory.mktemp('coco'))
    meta = CocoPanopticDataset.METAINFO
    known = {c['name']: c['id'] for c in fx.COCO_CATEGORIES}
    categories = [dict(id=known.get(name, 1000 + i), name=name,
                       isthing=int(name in meta['thing_classes']))
                  for i, name in enumerate(meta['classes'])]
    for split in ('train2017', 'val2017'):
        pan_json = fx.write_coco(root, split)
        with open(pan_json) as f:
            data = json.load(f)
        data['categories'] = categories
        with open(pan_json, 'w') as f:
            json.dump(data, f)
        for seed, img in enumerate(data['images']):
            fx._rgb_image(osp.join(root, split, img['file_name']), fx.COCO_SIZE, seed)
    coco.main([root])
    return root


def load_config(name, root, tmp_path=None):
    """A dataset base config with every path under its ``data_root`` moved to
    ``root`` (dataset roots and evaluator files alike) and, where set, the
    evaluators' ``outfile_prefix`` moved into ``tmp_path``."""
    cfg = Config.fromfile(osp.join(REPO, 'configs', '_base_', 'datasets', name))
    old = cfg.data_root
    moved = []

    def move(node):
        if isinstance(node, dict):
            return {k: move(v) for k, v in node.items()}
        if isinstance(node, (list, tuple)):
            return type(node)(move(v) for v in node)
        if isinstance(node, str) and node.startswith(old):
            moved.append(node)
            return osp.join(root, node[len(old):])
        return node

    cfg = Config(move(cfg.to_dict()))
    assert moved, f'{name}: nothing under {old}'
    for metric in cfg.test_evaluator:
        if metric.get('outfile_prefix') and tmp_path is not None:
            metric['outfile_prefix'] = str(tmp_path / metric['type'])
    return cfg


def recipe(name, root, train_steps):
    """The config ``name`` on ``root``, checking the order of its train pipeline."""
    cfg = load_config(name, root)
    assert [s['type'] for s in cfg.train_pipeline] == train_steps
    return cfg


def step(cfg_pipeline, type_):
    """The one config step of ``type_`` in a pipeline."""
    found = [s for s in cfg_pipeline if s['type'] == type_]
    assert len(found) == 1, f'{type_}: {found}'
    return found[0]


def check_packed(out, size, num_texts, metainfo):
    """A packed training sample: the image of ``size`` (h, w), the sampled task, its
    targets at that size and the token ids of its text list, class by class in
    the release's class order (checked against outside tables in
    test_task_sampling.py)."""
    sample = out['data_samples']
    assert tuple(out['inputs'].shape) == (3, ) + size
    assert out['inputs'].dtype == torch.uint8  # normalised by the data preprocessor
    task = sample.task
    masks = sample.gt_instances.masks.masks
    labels = sample.gt_instances.labels
    assert masks.shape[1:] == size and len(masks) == len(labels)
    assert all(m.any() for m in masks)  # no empty target
    if task == 'instance':
        assert (labels < len(metainfo['thing_classes'])).all()
    if task == 'semantic':
        assert len(set(labels.tolist())) == len(labels)
    release = list(metainfo.get('release_classes', metainfo['classes']))
    names = sorted((metainfo['classes'][i] for i in labels.tolist()),
                   key=release.index)[:num_texts]
    expected = open_clip.tokenize([f'a photo with a {n}' for n in names] +
                                  [TASK_SPECS[task].pad_text] * (num_texts - len(names)))
    assert torch.equal(sample.text_tokens, expected)
    return sample


def run_train(ds, idx, seed):
    np.random.seed(seed)
    out = ds.prepare_data(idx)
    assert out is not None  # no transform rejected the sample
    return out


# ---------------------------------------------------------------- metainfo

def test_category_tables_and_metainfo(ade_root, city_root):
    ade_meta = OneFormerADE20KPanopticDataset.METAINFO
    assert len(ade_meta['classes']) == 150 and len(ade_meta['thing_classes']) == 100
    assert ade_meta['classes'][:100] == ade_meta['thing_classes']
    assert ade_meta['classes'][100:] == ade_meta['stuff_classes']
    assert (ade_meta['classes'][0], ade_meta['classes'][1], ade_meta['classes'][100]) \
        == ('bed', 'window ', 'wall')  # released spellings, things first
    assert len(ade_meta['palette']) == 150 and ade_meta['palette'][100] == (120, 120,
                                                                            120)
    city_meta = CityscapesPanopticDataset.METAINFO
    assert len(city_meta['classes']) == 19 and len(city_meta['thing_classes']) == 8
    assert city_meta['thing_classes'][0] == 'person'
    assert city_meta['stuff_classes'][0] == 'road'
    # one table: the converters use the dataset modules' objects
    assert ade.ADE20K_CATEGORIES is ade_data.ADE20K_CATEGORIES
    assert ade.CATEGORIES is ade_data.ADE20K_PANOPTIC_CATEGORIES
    assert city.CATEGORIES is city_data.CITYSCAPES_CATEGORIES
    # ... and write the json categories and the metainfo file from them
    for root, pan_json, meta_file, meta in [
            (ade_root, 'ade20k_panoptic_val.json', 'ade20k_panoptic_metainfo.py',
             ade_meta),
            (city_root, 'gtFine/cityscapes_panoptic_val.json',
             'gtFine/cityscapes_panoptic_metainfo.py', city_meta)]:
        with open(osp.join(root, pan_json)) as f:
            names = tuple(c['name'] for c in json.load(f)['categories'])
        assert names == meta['classes']
        written = Config.fromfile(osp.join(root, meta_file)).metainfo
        assert json.dumps(written.to_dict()) == json.dumps(meta)


@pytest.mark.parametrize('name,root,dataset_cls', [
    ('ade20k_panoptic.py', 'ade_root', OneFormerADE20KPanopticDataset),
    ('cityscapes_panoptic.py', 'city_root', CityscapesPanopticDataset),
    ('coco_panoptic.py', 'coco_root', OneFormerPanopticDataset),
])
def test_configs_build_datasets_with_their_metainfo(name, root, dataset_cls, request):
    cfg = load_config(name, request.getfixturevalue(root))
    assert 'metainfo' not in cfg.train_dataloader.dataset  # the class carries it
    assert cfg.train_dataloader.batch_size == 2  # x 8 GPUs = 16
    assert cfg.num_texts == 134  # 150 queries - 16 contexts
    train_ds, test_ds = (DATASETS.build(loader.dataset)
                         for loader in (cfg.train_dataloader, cfg.test_dataloader))
    for ds in (train_ds, test_ds):
        assert type(ds) is dataset_cls and len(ds) == 2
        assert ds.metainfo['classes'] == dataset_cls.METAINFO['classes']
    # the train pipeline's task sampler received the dataset's class names
    task_sampling = train_ds.pipeline.transforms[-2]
    assert task_sampling.class_names == dataset_cls.METAINFO['classes']
    assert task_sampling.num_texts == 134


# ---------------------------------------------------------------- ADE20K

def test_ade20k_recipe(ade_root):
    cfg = recipe('ade20k_panoptic.py', ade_root, [
        'LoadImageFromFile', 'LoadStrictPanopticAnnotations', 'RandomChoiceResize',
        'RandomCrop', 'mmseg.PhotoMetricDistortion', 'RandomFlip', 'Pad',
        'OneFormerTaskSampling', 'PackOneFormerInputs'])
    pipeline = cfg.train_pipeline
    resize = step(pipeline, 'RandomChoiceResize')
    # released MIN_SIZE_TRAIN [int(x * 0.1 * 512) for x in range(5, 21)], max 2048
    assert resize['scales'] == [256, 307, 358, 409, 460, 512, 563, 614, 665, 716, 768,
                                819, 870, 921, 972, 1024]
    assert (resize['resize_type'], resize['max_size']) == ('ResizeShortestEdge', 2048)
    crop = step(pipeline, 'RandomCrop')
    assert crop['crop_size'] == (512, 512) and crop['allow_negative_crop']
    assert step(pipeline, 'RandomFlip')['prob'] == 0.5
    assert step(pipeline, 'Pad')['pad_val'] == dict(img=128, seg=255, masks=0)
    test_resize = step(cfg.test_pipeline, 'ResizeShortestEdge')
    assert (test_resize['scale'], test_resize['max_size']) == (512, 2048)

    ds = DATASETS.build(cfg.train_dataloader.dataset)
    # detectron2's ColorAugSSDTransform parameters, on uint8 as released
    jitter = ds.pipeline.transforms[4]
    assert type(jitter) is SegPhotoMetric
    assert (jitter.brightness_delta, jitter.contrast_lower, jitter.contrast_upper,
            jitter.saturation_lower, jitter.saturation_upper, jitter.hue_delta) == (
        32, 0.5, 1.5, 0.5, 1.5, 18)
    resize_step = ds.pipeline.transforms[2]
    # shortest edge 1024 (32x48 -> 1024x1536): a 512x512 crop of the image
    resize_step.scales = [1024]
    for seed in range(3):
        check_packed(run_train(ds, seed % 2, seed), (512, 512), 134, ds.metainfo)
    # shortest edge 256 (-> 256x384): the whole image, padded to 512 with 128
    resize_step.scales = [256]
    out = run_train(ds, 0, 0)
    sample = check_packed(out, (512, 512), 134, ds.metainfo)
    img = out['inputs']
    assert (img[:, 256:] == 128).all() and (img[:, :, 384:] == 128).all()
    assert not (img[:, :256, :384] == 128).all()
    masks = sample.gt_instances.masks.masks
    assert not masks[:, 256:].any() and not masks[:, :, 384:].any()
    assert masks[:, :256, :384].any()
    # ... to be compared with the random recipe: always the crop size
    resize_step.scales = resize['scales']
    for seed in range(4):
        check_packed(run_train(ds, seed % 2, seed), (512, 512), 134, ds.metainfo)

    test_ds = DATASETS.build(cfg.test_dataloader.dataset)
    out = test_ds[0]
    assert tuple(out['inputs'].shape) == (3, 512, 768)  # short edge 512
    gt = out['data_samples'].gt_sem_seg.sem_seg
    assert tuple(gt.shape) == (1, ) + fx.ADE_SIZE  # ground truth at the original size
    names = {test_ds.metainfo['classes'][i] for i in gt.unique().tolist() if i != 255}
    assert names == {'wall', 'floor', 'bed', 'person'}
    # the released ground truth, the SceneParsing map: bed rows that no instance
    # covers are bed (void in the panoptic PNG), the pasted person is floor, 'other'
    # is void
    label = {n: i for i, n in enumerate(test_ds.metainfo['classes'])}
    assert (gt[0, 24:26, 2:14] == label['bed']).all()
    assert (gt[0, 26:32, 40:48] == label['floor']).all()
    assert (gt[0, 0:4, 40:48] == 255).all()


# ---------------------------------------------------------------- Cityscapes

def test_cityscapes_recipe(city_root):
    cfg = recipe('cityscapes_panoptic.py', city_root, [
        'LoadImageFromFile', 'LoadStrictPanopticAnnotations', 'RandomChoiceResize',
        'RandomCrop', 'mmseg.PhotoMetricDistortion', 'RandomFlip',
        'OneFormerTaskSampling', 'PackOneFormerInputs'])  # no pad: SIZE_DIVISIBILITY -1
    pipeline = cfg.train_pipeline
    resize = step(pipeline, 'RandomChoiceResize')
    # released MIN_SIZE_TRAIN [int(x * 0.1 * 1024) for x in range(5, 21)], max 4096
    assert resize['scales'] == [512, 614, 716, 819, 921, 1024, 1126, 1228, 1331, 1433,
                                1536, 1638, 1740, 1843, 1945, 2048]
    assert resize['max_size'] == 4096
    assert step(pipeline, 'RandomCrop')['crop_size'] == (1024, 512)  # (w, h)
    test_resize = step(cfg.test_pipeline, 'ResizeShortestEdge')
    assert (test_resize['scale'], test_resize['max_size']) == (1024, 2048)
    panoptic_metric = cfg.test_evaluator[0]
    assert panoptic_metric['type'] == 'CocoPanopticMetric'
    assert panoptic_metric['outfile_prefix']  # see the converter's docstring

    ds = DATASETS.build(cfg.train_dataloader.dataset)
    resize_step = ds.pipeline.transforms[2]
    resize_step.scales = [512]  # the smallest: 32x64 -> 512x1024, exactly the crop
    out = run_train(ds, 0, 0)
    check_packed(out, (512, 1024), 134, ds.metainfo)
    resize_step.scales = resize['scales']
    for seed in range(2):
        check_packed(run_train(ds, seed, seed), (512, 1024), 134, ds.metainfo)

    test_ds = DATASETS.build(cfg.test_dataloader.dataset)
    out = test_ds[1]
    assert tuple(out['inputs'].shape) == (3, 1024, 2048)
    gt = out['data_samples'].gt_sem_seg.sem_seg
    assert tuple(gt.shape) == (1, ) + fx.CITY_SIZE
    names = {test_ds.metainfo['classes'][i] for i in gt.unique().tolist() if i != 255}
    assert names == {'vegetation', 'rider', 'bicycle'}  # parking is void


# ---------------------------------------------------------------- COCO

def test_coco_lsj_recipe(coco_root):
    # flip first, no colour jitter (the released LSJ mapper)
    cfg = recipe('coco_panoptic.py', coco_root, [
        'LoadImageFromFile', 'LoadStrictPanopticAnnotations', 'RandomFlip',
        'RandomResize', 'RandomCrop', 'Pad', 'OneFormerTaskSampling',
        'PackOneFormerInputs'])
    pipeline = cfg.train_pipeline
    resize = step(pipeline, 'RandomResize')
    assert (resize['scale'], resize['ratio_range'], resize['keep_ratio']) == (
        (1024, 1024), (0.1, 2.0), True)
    assert step(pipeline, 'RandomCrop')['crop_size'] == (1024, 1024)
    pad = step(pipeline, 'Pad')
    assert pad['size'] == (1024, 1024) and pad['pad_val']['img'] == 128
    test_resize = step(cfg.test_pipeline, 'ResizeShortestEdge')
    assert (test_resize['scale'], test_resize['max_size']) == (800, 1333)

    ds = DATASETS.build(cfg.train_dataloader.dataset)
    resize_step = ds.pipeline.transforms[3]
    # scale 0.1: 24x32 fits into 102x102 as 77x102, padded to 1024 with 128
    resize_step.ratio_range = (0.1, 0.1)
    out = run_train(ds, 0, 0)
    sample = check_packed(out, (1024, 1024), 134, ds.metainfo)
    img = out['inputs']
    assert (img[:, 77:] == 128).all() and (img[:, :, 102:] == 128).all()
    assert not sample.gt_instances.masks.masks[:, 77:].any()
    resize_step.ratio_range = (2.0, 2.0)  # 2048 x 2048 box: a 1024 crop of 1536x2048
    for seed in range(2):
        check_packed(run_train(ds, seed, seed), (1024, 1024), 134, ds.metainfo)

    test_ds = DATASETS.build(cfg.test_dataloader.dataset)
    out = test_ds[0]
    assert tuple(out['inputs'].shape) == (3, 800, 1067)  # 24x32, short edge 800
    gt = out['data_samples'].gt_sem_seg.sem_seg
    assert tuple(gt.shape) == (1, ) + fx.COCO_SIZE
    names = {test_ds.metainfo['classes'][i] for i in gt.unique().tolist() if i != 255}
    # the crowd car keeps its class in the semantic ground truth
    assert names == {'person', 'car', 'tree-merged', 'sky-other-merged'}


# ---------------------------------------------------------------- evaluators

def perfect_prediction(ds, idx, sample):
    """Panoptic, instance and semantic predictions equal to the ground truth of image
    ``idx``, read from its panoptic PNG (crowd: void / no instance / its class); the
    ADE20K semantic one from its SceneParsing map."""
    info = ds.get_data_info(idx)
    ids = rgb2id(np.asarray(Image.open(info['seg_map_path']).convert('RGB')))
    num_classes = len(ds.metainfo['classes'])
    num_things = len(ds.metainfo['thing_classes'])
    pan = np.full(ids.shape, num_classes, np.int64)
    sem = np.full(ids.shape, 255, np.int64)
    masks, labels = [], []
    for k, seg in enumerate(info['segments_info'], start=1):
        mask = ids == seg['id']
        sem[mask] = seg['category']
        if seg['is_thing']:
            pan[mask] = seg['category'] + k * INSTANCE_OFFSET
            masks.append(mask)
            labels.append(seg['category'])
        elif seg['category'] >= num_things:
            pan[mask] = seg['category']
    if 'sem_seg_path' in info:  # ADE20K: the SceneParsing map is the ground truth
        sem = info['sem_seg_lut'][np.asarray(Image.open(info['sem_seg_path']))]
    masks = torch.from_numpy(np.stack(masks))
    sample.pred_panoptic_seg = PixelData(sem_seg=torch.from_numpy(pan)[None])
    sample.pred_instances = InstanceData(
        masks=masks, labels=torch.tensor(labels), scores=torch.ones(len(labels)),
        bboxes=mask2bbox(masks))
    sample.pred_sem_seg = PixelData(sem_seg=torch.from_numpy(sem)[None])
    return sample


@pytest.mark.parametrize('name,root,instance_metric,ap_key', [
    ('ade20k_panoptic.py', 'ade_root', 'CocoMetric', 'coco/segm_mAP'),
    # as released: cityscapesscripts' AP on the gtFine instanceIds PNGs
    ('cityscapes_panoptic.py', 'city_root', 'CityScapesMetric', 'cityscapes/mAP'),
    ('coco_panoptic.py', 'coco_root', 'CocoMetric', 'coco/segm_mAP')])
def test_evaluators_score_ground_truth_100(name, root, instance_metric, ap_key,
                                           request, tmp_path):
    """PQ, mask AP and mIoU of the configs' evaluators, with the configs' files, on
    predictions equal to the ground truth: each finds its ground truth (PNGs, the
    derived instance json or Cityscapes' own instanceIds PNGs, gt_sem_seg from the
    test pipeline at the original size) and maps labels to the right categories."""
    cfg = load_config(name, request.getfixturevalue(root), tmp_path)
    assert [m['type'] for m in cfg.test_evaluator] == [
        'CocoPanopticMetric', instance_metric, 'SemSegMetric']
    ds = DATASETS.build(cfg.test_dataloader.dataset)
    evaluator = Evaluator(cfg.test_evaluator)
    evaluator.dataset_meta = ds.metainfo
    for idx in range(len(ds)):
        sample = ds[idx]['data_samples']
        evaluator.process([perfect_prediction(ds, idx, sample)])
    metrics = evaluator.evaluate(len(ds))
    assert metrics['coco_panoptic/PQ'] == pytest.approx(100.0)
    assert metrics[ap_key] == pytest.approx(1.0)
    assert metrics['sem_seg/mIoU'] == pytest.approx(100.0)


def test_missing_scene_parsing_map_is_named(tmp_path):
    from projects.oneformer.datasets.transforms import LoadSceneParsingSemSeg
    path = str(tmp_path / 'ADE_val_00000009.png')
    with pytest.raises(FileNotFoundError, match='ADE_val_00000009.png'):
        LoadSceneParsingSemSeg()(dict(img_id=9, sem_seg_path=path,
                                      sem_seg_lut=np.zeros(256, np.uint8)))
