"""Broken panoptic data fails with one line naming the file, the image id and the
segment id (the loader's checks), and tools/misc/check_dataset.py lists every
problem of a split."""
import json
import os.path as osp

import numpy as np
import pytest
from mmengine.config import Config
from mmengine.registry import init_default_scope
from panopticapi.utils import id2rgb, rgb2id
from PIL import Image

import projects.oneformer  # noqa: F401
from projects.oneformer.datasets import OneFormerPanopticDataset
from tests.utils import REPO, _load_tool, make_toy_dataset

SIZE = 32
TOY = osp.join(REPO, 'configs/oneformer_r18_toy.py')
ANN = 'annotations/panoptic_train.json'


@pytest.fixture
def root(tmp_path):
    return make_toy_dataset(str(tmp_path / 'toy'), num_train=4, num_val=1,
                            size=SIZE)


def _dataset(root):
    init_default_scope('mmdet')  # earlier tests may have left another scope
    pipeline = [
        dict(type='LoadImageFromFile'),
        dict(type='LoadStrictPanopticAnnotations', with_bbox=True,
             with_mask=True, with_seg=True),
    ]
    return OneFormerPanopticDataset(
        data_root=root + '/', ann_file=ANN,
        metainfo=Config.fromfile(TOY).metainfo,
        data_prefix=dict(img='train/', seg='annotations/panoptic_train/'),
        filter_cfg=None, pipeline=pipeline)


def _png(root, index):
    return osp.join(root, 'annotations/panoptic_train', f'train_{index:06d}.png')


def _paint(root, index, seg_id, region=(slice(0, 2), slice(0, 2))):
    ids = rgb2id(np.array(Image.open(_png(root, index))))
    ids[region] = seg_id
    Image.fromarray(id2rgb(ids)).save(_png(root, index))


def _edit_json(root, edit):
    path = osp.join(root, ANN)
    with open(path) as f:
        data = json.load(f)
    edit(data)
    with open(path, 'w') as f:
        json.dump(data, f)


def _unknown_category(data, image=3, segment=3):
    info = next(a for a in data['annotations'] if a['image_id'] == image)
    next(s for s in info['segments_info'] if s['id'] == segment)['category_id'] = 99


def _truncate(path):
    with open(path, 'rb') as f:
        data = f.read()
    with open(path, 'wb') as f:
        f.write(data[:len(data) // 2])


def test_png_id_not_in_segments_info(root):
    _paint(root, 1, 9)
    dataset = _dataset(root)
    dataset[0]
    with pytest.raises(ValueError, match=r'train_000001\.png: segment id\(s\) '
                       r'\[9\] of image 1 occur in the PNG but are not listed'):
        dataset[1]


def test_unknown_category_names_the_image_it_is_in(root):
    # segment id 3 occurs in every image: the error names image 3, not image 0
    _edit_json(root, _unknown_category)
    with pytest.raises(ValueError, match=r'panoptic_train\.json: segment 3 of '
                       r'image train_000003\.png \(id 3\) has unknown '
                       r'category_id 99'):
        _dataset(root)


def test_truncated_png_names_the_file(root):
    _truncate(_png(root, 2))
    with pytest.raises(ValueError, match=r'train_000002\.png: the panoptic PNG '
                       r'of image 2 does not decode'):
        _dataset(root)[2]


def test_png_size_differs_from_image(root):
    ids = rgb2id(np.array(Image.open(_png(root, 0))))
    Image.fromarray(id2rgb(np.kron(ids, np.ones((2, 2), ids.dtype)))).save(
        _png(root, 0))
    with pytest.raises(ValueError, match=r'train_000000\.png: the PNG is 64x64 '
                       r'\(HxW\) but image 0 .*train_000000\.png\) is 32x32'):
        _dataset(root)[0]


def test_malformed_annotation_json_names_the_file(root):
    _truncate(osp.join(root, ANN))
    with pytest.raises(ValueError, match=r'panoptic_train\.json: not valid JSON'):
        _dataset(root)


def test_check_dataset_lists_every_problem(root, capsys):
    tool = _load_tool('tools/misc/check_dataset.py')
    args = [TOY, '--splits', 'train', '--cfg-options',
            f'train_dataloader.dataset.data_root={root}/']
    assert tool.main(args) == 0
    assert 'train: 0 problem(s)' in capsys.readouterr().out
    _edit_json(root, _unknown_category)
    _paint(root, 1, 9)
    _truncate(_png(root, 2))
    assert tool.main(args) == 1
    out = capsys.readouterr().out
    lines = [line for line in out.splitlines() if line.startswith('train: ')]
    assert len(lines) == 4, out
    assert 'segment 3 of image train_000003.png (id 3) has unknown' in lines[0]
    assert 'train_000001.png: segment id(s) [9] of image 1 occur' in lines[1]
    assert 'train_000002.png: the panoptic PNG of image 2 does not decode' in lines[2]
    assert lines[3] == 'train: 3 problem(s)'
