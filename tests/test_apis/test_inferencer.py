"""OneFormerInferencer (mmdet's DetInferencer for the three tasks) on a folder
of two images: every output saved (instances JSON, panoptic PNG + segments,
semantic PNG), one picture per task, the model named by its model-index alias."""
import json
import os.path as osp

import mmcv
import numpy as np
import pytest
import torch
from mmdet.apis import init_detector
from mmengine.config import Config
from mmengine.registry import init_default_scope
from panopticapi.utils import rgb2id

import projects.oneformer  # noqa: F401
from mmdet.evaluation.functional import INSTANCE_OFFSET
from mmdet.registry import MODELS
from projects.oneformer.apis import OneFormerInferencer, predict_tasks
from tests.utils import REPO, make_toy_dataset

TOY = osp.join(REPO, 'configs/oneformer_r18_toy.py')


@pytest.fixture(scope='module')
def folder_and_checkpoint(tmp_path_factory):
    tmp = tmp_path_factory.mktemp('inferencer')
    root = make_toy_dataset(str(tmp / 'toy'), num_train=1, num_val=2, size=64)
    init_default_scope('mmdet')
    torch.manual_seed(0)
    model = MODELS.build(Config.fromfile(TOY).model)
    model.init_weights()
    checkpoint = str(tmp / 'toy.pth')
    torch.save({'state_dict': model.state_dict()}, checkpoint)
    return osp.join(root, 'val'), checkpoint


def test_folder_of_two_images_gives_every_output(folder_and_checkpoint, tmp_path):
    folder, checkpoint = folder_and_checkpoint
    # the config by its alias in model-index.yml
    inferencer = OneFormerInferencer('oneformer_r18_toy', weights=checkpoint,
                                     device='cpu')
    model = init_detector(TOY, checkpoint, device='cpu')
    for m in (inferencer.model, model):  # panoptic segments from random weights
        m.panoptic_fusion_head.test_cfg.object_mask_thr = 0.0
    out = inferencer(folder, out_dir=str(tmp_path))
    assert len(out['predictions']) == 2
    # the checkpoint has no dataset_meta: the config's classes, not COCO's
    classes = inferencer.model.dataset_meta['classes']
    assert classes == Config.fromfile(TOY).metainfo['classes']
    for stem in ('val_000000', 'val_000001'):
        preds = tmp_path / 'preds'
        with open(preds / f'{stem}.json') as f:
            result = json.load(f)
        assert {'labels', 'scores', 'bboxes', 'masks', 'panoptic_seg_path',
                'panoptic_segments', 'semantic_seg_path'} <= set(result)
        # the files hold what the model predicts for that image
        sample = predict_tasks(model, osp.join(folder, f'{stem}.png'),
                               ['panoptic', 'instance', 'semantic'])
        semantic = mmcv.imread(result['semantic_seg_path'], flag='unchanged')
        assert np.array_equal(semantic, sample.pred_sem_seg.sem_seg[0].numpy())
        pan = sample.pred_panoptic_seg.sem_seg[0].numpy()
        png = rgb2id(mmcv.imread(result['panoptic_seg_path'], channel_order='rgb'))
        segments = {s['id']: s for s in result['panoptic_segments']}
        assert segments
        for seg_id, segment in segments.items():
            assert np.array_equal(png == seg_id, pan == seg_id)
            assert segment['class_name'] == classes[seg_id % INSTANCE_OFFSET]
            assert segment['area'] == int((pan == seg_id).sum())
        assert len(result['labels']) == len(sample.pred_instances)
        # one picture per task, and their grid
        for name in ('panoptic', 'instance', 'semantic', 'grid'):
            assert (tmp_path / 'vis' / f'{stem}_{name}.jpg').exists()


def test_tasks_argument_and_bad_tasks(folder_and_checkpoint, tmp_path):
    folder, checkpoint = folder_and_checkpoint
    inferencer = OneFormerInferencer(TOY, weights=checkpoint, device='cpu',
                                     tasks='semantic', show_progress=False)
    out = inferencer(osp.join(folder, 'val_000000.png'), out_dir=str(tmp_path))
    prediction, = out['predictions']
    assert set(prediction) == {'semantic_seg_path'}
    assert sorted(p.name for p in (tmp_path / 'vis').iterdir()) == [
        'val_000000_semantic.jpg']
    # tasks per call
    prediction, = inferencer(osp.join(folder, 'val_000000.png'),
                             tasks=['instance'])['predictions']
    assert 'labels' in prediction and 'semantic_seg' not in prediction
    with pytest.raises(ValueError, match="Unknown OneFormer task"):
        OneFormerInferencer(TOY, weights=checkpoint, device='cpu', tasks='depth')
    with pytest.raises(ValueError, match='neither a config file nor a model name'):
        OneFormerInferencer('no_such_model', weights=checkpoint, device='cpu')
