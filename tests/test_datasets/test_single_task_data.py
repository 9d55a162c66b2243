"""Datasets that label one task (semantic-only label maps, instance-only COCO JSON)
train OneFormer beside panoptic data: per-sample tasks, one class space, errors."""
import json
import os
import os.path as osp

import numpy as np
import pytest
import torch
from mmengine.dataset import pseudo_collate
from mmengine.registry import init_default_scope
from PIL import Image
from pycocotools import mask as mask_utils

import projects.oneformer  # noqa: F401
from mmdet.registry import DATASETS, MODELS
from tests.test_datasets.panoptic_fixture import CLASSES, METAINFO, write_fixture

init_default_scope('mmdet')
NUM_TEXTS = 8  # tiny model: 12 queries - 4 text contexts
DRAWS = 200
SAMPLING = [dict(type='OneFormerTaskSampling', num_texts=NUM_TEXTS),
            dict(type='PackOneFormerInputs')]
# Label PNG (mmseg, reduce_zero_label): 0 unlabelled, 1 road, 2 person, 3 tree (a
# class the shared space lacks); after the reduction 0 road, 1 person, 2 tree.
SEM_ROWS = {0: (0, 2), 3: (2, 4), 2: (4, 6), 1: (6, 8)}
SEM_CLASS_MAP = {0: 'road', 1: 'person', 2: None}
# Instance JSON: its own ids and names; BIKE is not a shared class.
INST_CATEGORIES = [dict(id=7, name='CAR'), dict(id=9, name='BIKE')]
INST_CLASS_MAP = dict(CAR='car', BIKE=None)


def _box(rows, cols):
    mask = np.zeros((8, 8), bool)
    mask[rows[0]:rows[1], cols[0]:cols[1]] = True
    return mask


CAR, BIKE, CROWD_CAR = _box((0, 4), (0, 4)), _box((4, 8), (4, 8)), _box((6, 8), (0, 2))


def write_semantic(root):
    os.makedirs(osp.join(root, 'img'), exist_ok=True)
    os.makedirs(osp.join(root, 'ann'), exist_ok=True)
    labels = np.zeros((8, 8), np.uint8)
    for value, (start, stop) in SEM_ROWS.items():
        labels[start:stop] = value
    Image.fromarray(labels).save(osp.join(root, 'ann', 'a.png'))
    Image.fromarray(np.full((8, 8, 3), 90, np.uint8)).save(osp.join(root, 'img', 'a.png'))


def write_instance(root, categories=INST_CATEGORIES):
    os.makedirs(osp.join(root, 'img'), exist_ok=True)
    anns = []
    for cat, mask, crowd in ((7, CAR, 0), (9, BIKE, 0), (7, CROWD_CAR, 1)):
        rle = mask_utils.encode(np.asfortranarray(mask.astype(np.uint8)))
        rle['counts'] = rle['counts'].decode('ascii')
        ys, xs = np.nonzero(mask)
        anns.append(dict(id=len(anns) + 1, image_id=1, category_id=cat,
                         segmentation=rle, area=int(mask.sum()), iscrowd=crowd,
                         bbox=[int(xs.min()), int(ys.min()),
                               int(np.ptp(xs)) + 1, int(np.ptp(ys)) + 1]))
    with open(osp.join(root, 'ann.json'), 'w') as f:
        json.dump(dict(images=[dict(id=1, file_name='a.png', height=8, width=8)],
                       annotations=anns, categories=categories), f)
    Image.fromarray(np.full((8, 8, 3), 60, np.uint8)).save(osp.join(root, 'img', 'a.png'))


def semantic_dataset(root, metainfo=METAINFO, **kwargs):
    write_semantic(root)
    cfg = dict(type='OneFormerSemSegDataset', name='sem', data_root=root,
               data_prefix=dict(img_path='img', seg_map_path='ann'),
               img_suffix='.png', reduce_zero_label=True, metainfo=metainfo,
               class_map=SEM_CLASS_MAP,
               pipeline=[dict(type='LoadImageFromFile'),
                         dict(type='LoadStrictSemSegAnnotations')] + SAMPLING)
    return DATASETS.build(dict(cfg, **kwargs))


def instance_dataset(root, metainfo=METAINFO, categories=INST_CATEGORIES, **kwargs):
    write_instance(root, categories)
    cfg = dict(type='OneFormerCocoInstanceDataset', name='inst', data_root=root,
               ann_file='ann.json', data_prefix=dict(img='img/'), metainfo=metainfo,
               class_map=INST_CLASS_MAP,
               pipeline=[dict(type='LoadImageFromFile'),
                         dict(type='LoadAnnotations', with_bbox=True,
                              with_mask=True)] + SAMPLING)
    return DATASETS.build(dict(cfg, **kwargs))


def _draws(dataset):
    return [dataset[0]['data_samples'] for _ in range(DRAWS)]


def test_semantic_sample_only_gets_the_semantic_task(tmp_path):
    np.random.seed(0)
    samples = _draws(semantic_dataset(str(tmp_path)))
    assert {s.task for s in samples} == {'semantic'}
    # subset of the shared classes, mapped: person 0, road 3; void and tree left out
    sample = samples[0]
    assert sample.gt_instances.labels.tolist() == [0, 3]
    masks = sample.gt_instances.masks.masks.astype(bool)
    np.testing.assert_array_equal(masks[0], _box((4, 6), (0, 8)))
    np.testing.assert_array_equal(masks[1], _box((6, 8), (0, 8)))
    assert sample.dataset_name == 'sem'


def test_instance_sample_never_gets_stuff_targets(tmp_path):
    np.random.seed(0)
    samples = _draws(instance_dataset(str(tmp_path)))
    assert {s.task for s in samples} == {'instance'}
    for sample in samples[:5]:
        # the car, in the shared space (label 1); BIKE (no class) and the crowd
        # car are no targets; nothing of stuff (labels >= 2)
        assert sample.gt_instances.labels.tolist() == [1]
        np.testing.assert_array_equal(
            sample.gt_instances.masks.masks[0].astype(bool), CAR)
    assert all((s.gt_instances.labels < 2).all() for s in samples)


def test_instance_data_trains_semantic_only_for_a_thing_only_class_space(tmp_path):
    things = dict(classes=CLASSES[:2], thing_classes=CLASSES[:2], stuff_classes=())
    np.random.seed(0)
    samples = _draws(instance_dataset(
        str(tmp_path), metainfo=things,
        task_probs=dict(instance=0.5, semantic=0.5)))
    counts = {t: sum(s.task == t for s in samples) for t in ('instance', 'semantic')}
    assert min(counts.values()) > DRAWS // 4 and sum(counts.values()) == DRAWS
    with pytest.raises(ValueError, match=r"dataset 'inst' \(.*ann\.json\): "
                       r'semantic targets from instance annotations'):
        instance_dataset(str(tmp_path / 'stuff'),
                         task_probs=dict(instance=0.5, semantic=0.5))


def test_panoptic_samples_keep_the_release_rule(tmp_path):
    dataset = DATASETS.build(dict(
        type='OneFormerPanopticDataset', name='pan', **write_fixture(str(tmp_path)),
        pipeline=[dict(type='LoadImageFromFile'),
                  dict(type='LoadStrictPanopticAnnotations', with_bbox=True,
                       with_mask=True, with_seg=True)] + SAMPLING))
    assert 'task_probs' not in dataset.get_data_info(0)
    np.random.seed(0)
    tasks = [dataset[0]['data_samples'].task for _ in range(DRAWS)]
    assert {t: tasks.count(t) > DRAWS // 5 for t in set(tasks)} == dict(
        semantic=True, instance=True, panoptic=True)


def test_label_value_outside_the_class_map(tmp_path):
    dataset = semantic_dataset(str(tmp_path), class_map={0: 'road', 1: 'person'})
    with pytest.raises(ValueError, match=r"dataset 'sem' \(.*ann/a\.png\): label "
                       r'value\(s\) \[2\] .*outside the class map'):
        dataset[0]


def test_instance_category_without_mapping(tmp_path):
    with pytest.raises(ValueError, match=r"dataset 'inst' \(.*ann\.json\): instance "
                       r"category 9 'BIKE' has no mapping"):
        instance_dataset(str(tmp_path), class_map=dict(CAR='car'))


@pytest.mark.parametrize('task_probs', [dict(), dict(semantic=0.0)])
def test_empty_allowed_tasks(tmp_path, task_probs):
    with pytest.raises(ValueError, match=r"dataset 'sem' \(.*ann\): the allowed "
                       'tasks are empty'):
        semantic_dataset(str(tmp_path), task_probs=task_probs)


def test_semantic_data_refuses_tasks_it_cannot_supply(tmp_path):
    with pytest.raises(ValueError, match=r"dataset 'sem' .*semantic annotations "
                       r"cannot supply \['panoptic'\]"):
        semantic_dataset(str(tmp_path), task_probs=dict(semantic=0.5, panoptic=0.5))


def test_mixed_batch_trains_with_finite_losses(tmp_path):
    from tests.test_models.tiny_oneformer import tiny_model_cfg
    panoptic = dict(
        type='OneFormerPanopticDataset', name='pan',
        **write_fixture(str(tmp_path / 'pan')),
        pipeline=[dict(type='LoadImageFromFile'),
                  dict(type='LoadStrictPanopticAnnotations', with_bbox=True,
                       with_mask=True, with_seg=True)] + SAMPLING)
    concat = DATASETS.build(dict(type='ConcatDataset', datasets=[
        panoptic, semantic_dataset(str(tmp_path / 'sem')),
        instance_dataset(str(tmp_path / 'inst'))]))
    assert isinstance(concat.metainfo, dict)  # one class space
    torch.manual_seed(0)
    np.random.seed(0)
    model = MODELS.build(tiny_model_cfg(text_mapper=True, num_things=2, num_stuff=2))
    model.init_weights()
    model.train()
    batch = pseudo_collate([concat[i] for i in range(3)])
    assert [s.task for s in batch['data_samples']][1:] == ['semantic', 'instance']
    data = model.data_preprocessor(batch, True)
    losses = model(**data, mode='loss')
    assert 'loss_contrastive' in losses and 'loss_mask' in losses
    for name, value in losses.items():
        assert torch.isfinite(value).all(), name
    total = sum(v for k, v in losses.items() if 'loss' in k)
    total.backward()
    grads = [p.grad for p in model.parameters() if p.grad is not None]
    assert grads and all(torch.isfinite(g).all() for g in grads)


def test_check_dataset_lists_single_task_problems(tmp_path):
    from tests.utils import _load_tool
    write_semantic(str(tmp_path / 'sem'))
    write_instance(str(tmp_path / 'inst'))
    semantic = dict(type='OneFormerSemSegDataset', name='sem',
                    data_root=str(tmp_path / 'sem'),
                    data_prefix=dict(img_path='img', seg_map_path='ann'),
                    img_suffix='.png', reduce_zero_label=True, metainfo=METAINFO,
                    class_map={0: 'road', 1: 'person'})
    instance = dict(type='OneFormerCocoInstanceDataset', name='inst',
                    data_root=str(tmp_path / 'inst'), ann_file='ann.json',
                    data_prefix=dict(img='img/'), metainfo=METAINFO,
                    class_map=dict(CAR='car'))
    problems = _load_tool('tools/misc/check_dataset.py').check_dataset(
        dict(type='ConcatDataset', datasets=[semantic, instance]))
    assert len(problems) == 2
    assert "dataset 'sem'" in problems[0] and 'label value(s) [2]' in problems[0]
    assert "dataset 'inst'" in problems[1] and "'BIKE' has no mapping" in problems[1]


def test_label_map_of_another_size_names_both(tmp_path):
    dataset = semantic_dataset(str(tmp_path))
    Image.fromarray(np.zeros((8, 6), np.uint8)).save(tmp_path / 'ann' / 'a.png')
    with pytest.raises(ValueError, match=r"dataset 'sem' \(.*ann/a\.png\): the label "
                       r'map is 8x6 \(HxW\) but image .*img/a\.png is 8x8'):
        dataset[0]
