"""OneFormerTaskSampling on a hand-built panoptic example: exact masks, labels, texts."""
import numpy as np
import open_clip
import pytest
from mmengine.registry import init_default_scope

import projects.oneformer  # noqa: F401
from projects.oneformer.datasets import OneFormerPanopticDataset
from tests.test_datasets.panoptic_fixture import SEGMENTS, region, write_fixture

init_default_scope('mmdet')


def _dataset(root, num_texts=10, task='panoptic', **fixture):
    pipeline = [
        dict(type='LoadImageFromFile'),
        dict(type='LoadStrictPanopticAnnotations', with_bbox=True, with_mask=True,
             with_seg=True),
        dict(type='OneFormerTaskSampling', num_texts=num_texts, task=task),
        dict(type='PackOneFormerInputs'),
    ]
    kwargs = write_fixture(str(root), **fixture)
    return OneFormerPanopticDataset(**kwargs, pipeline=pipeline,
                                    filter_cfg=dict(filter_empty_gt=False))


def _mask(seg_id):
    return region(*SEGMENTS[seg_id][2])


PERSON_A, PERSON_B, CAR, SKY, ROAD = (_mask(i) for i in (3, 4, 5, 1, 2))
CROWD = _mask(6)
# (expected masks in output order, labels, class names of the texts in order)
EXPECTED = dict(
    semantic=([PERSON_A | PERSON_B, CAR, SKY, ROAD], [0, 1, 2, 3],
              ['person', 'car', 'sky', 'road']),
    instance=([PERSON_A, PERSON_B, CAR], [0, 0, 1], ['person', 'person', 'car']),
    panoptic=([PERSON_A, PERSON_B, CAR, SKY, ROAD], [0, 0, 1, 2, 3],
              ['person', 'person', 'car', 'sky', 'road']),
)
PAD = dict(semantic='a semantic photo', instance='an instance photo',
           panoptic='a panoptic photo')


@pytest.mark.parametrize('task', ['semantic', 'instance', 'panoptic'])
def test_targets_and_texts_per_task(tmp_path, task):
    ds = _dataset(tmp_path, task=task)
    results = ds.pipeline.transforms[2](ds.pipeline.transforms[1](
        ds.pipeline.transforms[0](ds.get_data_info(0))))
    masks, labels, names = EXPECTED[task]
    got = results['gt_masks'].masks.astype(bool)
    assert results['task'] == task
    assert results['gt_bboxes_labels'].tolist() == labels
    assert len(got) == len(masks)
    for g, m in zip(got, masks):
        np.testing.assert_array_equal(g, m)
    # crowd and void pixels belong to no target
    assert not got[:, CROWD].any() and not got[:, 3:5, 5].any()
    texts = [f'a photo with a {n}' for n in names] + [PAD[task]] * (10 - len(names))
    assert results['texts'] == texts
    np.testing.assert_array_equal(results['text_tokens'].numpy(),
                                  open_clip.tokenize(texts).numpy())
    assert 'gt_seg_map' not in results
    assert results['gt_bboxes'].tensor[0].tolist() == (
        [0, 3, 5, 5] if task == 'semantic' else [0, 3, 2, 5])


def test_packed_sample_carries_task_and_tokens(tmp_path):
    sample = _dataset(tmp_path, task='instance')[0]['data_samples']
    assert sample.task == 'instance'
    assert tuple(sample.text_tokens.shape) == (10, 77)
    assert sample.gt_instances.labels.tolist() == [0, 0, 1]
    assert 'gt_sem_seg' not in sample


def test_more_segments_than_texts_truncates(tmp_path):
    ds = _dataset(tmp_path, num_texts=3, task='panoptic')
    results = ds.pipeline.transforms[2](ds.pipeline.transforms[1](
        ds.pipeline.transforms[0](ds.get_data_info(0))))
    assert results['texts'] == ['a photo with a person'] * 2 + ['a photo with a car']
    assert len(results['gt_bboxes_labels']) == 5  # all masks stay targets


def test_empty_image_has_only_padding(tmp_path):
    ds = _dataset(tmp_path, task='semantic', empty_image=True)
    data = ds[1]
    assert len(data['data_samples'].gt_instances) == 0
    assert data['data_samples'].text_tokens.shape == (10, 77)
    np.testing.assert_array_equal(
        data['data_samples'].text_tokens.numpy(),
        open_clip.tokenize(['a semantic photo'] * 10).numpy())


def test_task_frequencies_follow_the_released_thresholds():
    from mmdet.registry import TRANSFORMS
    sampler = TRANSFORMS.build(dict(type='OneFormerTaskSampling', num_texts=4,
                                    class_names=('a', 'b'), num_things_classes=1))
    np.random.seed(0)
    draws = [sampler._sample_task() for _ in range(6000)]
    freq = {t: draws.count(t) / len(draws) for t in ('semantic', 'instance', 'panoptic')}
    assert abs(freq['semantic'] - 0.33) < 0.02
    assert abs(freq['instance'] - 0.33) < 0.02
    assert abs(freq['panoptic'] - 0.34) < 0.02
    # Mapillary's quirk: 0.5 / 0.5 never samples instance
    mapillary = TRANSFORMS.build(dict(
        type='OneFormerTaskSampling', num_texts=4, class_names=('a', 'b'),
        num_things_classes=1, task_probs=dict(semantic=0.5, panoptic=0.5)))
    assert 'instance' not in {mapillary._sample_task() for _ in range(500)}


def test_bad_task_configuration():
    from mmdet.registry import TRANSFORMS
    with pytest.raises(ValueError, match="'panoptic', 'instance'|semantic"):
        TRANSFORMS.build(dict(type='OneFormerTaskSampling', num_texts=4, task='depth'))
    with pytest.raises(ValueError, match='sum to 1'):
        TRANSFORMS.build(dict(type='OneFormerTaskSampling', num_texts=4,
                              task_probs=dict(semantic=0.5, instance=0.1)))


def test_missing_png_names_the_file(tmp_path):
    ds = _dataset(tmp_path)
    (tmp_path / 'pan' / 'a.png').unlink()
    with pytest.raises(FileNotFoundError, match=r'a\.png'):
        ds[0]


def test_segment_absent_from_png_names_file_and_id(tmp_path):
    drawn = {k: v for k, v in SEGMENTS.items() if k != 5}  # car listed, not drawn
    ds = _dataset(tmp_path, png_segments=drawn)
    with pytest.raises(ValueError, match=r'a\.png: segment id\(s\) \[5\]'):
        ds[0]


def test_unknown_category_names_file_and_id(tmp_path):
    segments = dict(SEGMENTS)
    segments[5] = (99, 0, SEGMENTS[5][2])
    with pytest.raises(ValueError, match=r'segment 5 of image a\.jpg.*category_id 99'):
        _dataset(tmp_path, segments=segments)


@pytest.mark.parametrize('dataset', ['ade20k', 'cityscapes'])
def test_texts_follow_the_release_class_order(dataset):
    """Texts walk the classes in the release's class order (ADE20K:
    SceneParsing order, as mmseg's ADE20KDataset lists it; Cityscapes: train
    ids, as cityscapesscripts numbers them), not in the things-first labels."""
    from mmdet.structures.mask import BitmapMasks

    from projects.oneformer.datasets import (CityscapesPanopticDataset,
                                             OneFormerADE20KPanopticDataset)
    from projects.oneformer.datasets.transforms import OneFormerTaskSampling
    if dataset == 'ade20k':
        from mmseg.datasets import ADE20KDataset
        meta = OneFormerADE20KPanopticDataset.METAINFO
        release = [n.strip() for n in ADE20KDataset.METAINFO['classes']]
        things, stuff = ['bed', 'person'], ['floor', 'wall']
    else:
        from cityscapesscripts.helpers.labels import labels
        meta = CityscapesPanopticDataset.METAINFO
        release = [lab.name for lab in sorted(
            (lab for lab in labels if not lab.ignoreInEval),
            key=lambda lab: lab.trainId)]
        things, stuff = ['car', 'person'], ['sky', 'road']
    label = {name: i for i, name in enumerate(meta['classes'])}
    thing_masks = np.zeros((3, 8, 8), np.uint8)
    seg = np.full((8, 8), 255, np.uint8)
    for i, name in enumerate([things[0], things[1], things[0]]):
        thing_masks[i, i] = 1
        seg[i] = label[name]
    seg[4], seg[5] = label[stuff[0]], label[stuff[1]]
    transform = OneFormerTaskSampling(num_texts=8, task='panoptic')
    transform.set_dataset_meta(meta)
    results = transform(dict(
        gt_masks=BitmapMasks(thing_masks, 8, 8),
        gt_bboxes_labels=np.array([label[things[0]], label[things[1]],
                                   label[things[0]]]),
        gt_seg_map=seg))
    names = [things[0], things[0], things[1]] + stuff
    # the order of the release's own class table, from outside this plugin
    names.sort(key=lambda n: release.index(n))
    assert results['texts'][:5] == [f'a photo with a {n}' for n in names]
    assert names != sorted(names, key=label.get)  # the two orders differ here
    assert results['texts'][5:] == ['a panoptic photo'] * 3
