"""Semantic test-time augmentation (multi-scale + flip, per-class scores
averaged, as released): OneFormerTTAModel's merge, ``tools/test.py --tta`` and
mmdet's own ``test.py --tta`` on the toy data; panoptic / instance TTA refused
in one line."""
import os
import os.path as osp
import subprocess
import sys

import mmdet
import pytest
import torch
from mmengine.config import Config
from mmengine.registry import init_default_scope
from mmengine.structures import PixelData

import projects.oneformer  # noqa: F401
from mmdet.registry import MODELS
from projects.common import load_config
from projects.oneformer.models import OneFormerTTAModel, semantic_tta_config
from tests.test_models.tiny_oneformer import data_samples, tiny_model_cfg
from tests.utils import REPO, make_toy_dataset

TOY = osp.join(REPO, 'configs/oneformer_r18_toy.py')
MMDET_TEST = osp.join(osp.dirname(mmdet.__file__), '.mim/tools/test.py')


def _tiny(task='semantic', tasks=None):
    cfg = tiny_model_cfg()
    cfg.test_cfg.update(task=task, tasks=tasks)
    init_default_scope('mmdet')
    return cfg


def test_views_are_unflipped_and_their_scores_averaged():
    torch.manual_seed(0)
    tta = OneFormerTTAModel(_tiny()).eval()
    image = torch.rand(3, 32, 48) * 255
    views = []
    for size, flip in ((32, False), (32, True), (64, False)):
        img = torch.nn.functional.interpolate(
            image[None], scale_factor=size / 32, mode='bilinear')[0]
        img = img.flip(-1) if flip else img
        sample, = data_samples(1, img.shape[1:], ori_shape=(32, 48))
        sample.set_metainfo(dict(flip=flip, flip_direction='horizontal'))
        views.append(dict(inputs=[img], data_samples=[sample]))
    with torch.no_grad():
        merged, = tta.test_step(dict(
            inputs=[v['inputs'] for v in views],
            data_samples=[v['data_samples'] for v in views]))
        scores = []
        for view in views:  # each view alone, through the model's test_step
            out, = tta.module.test_step(view)
            s = out.pred_sem_seg.scores
            scores.append(s.flip(-1) if out.flip else s)
    expected = torch.stack(scores).mean(0).argmax(0)
    assert merged.pred_sem_seg.sem_seg.shape == (1, 32, 48)
    assert torch.equal(merged.pred_sem_seg.sem_seg[0], expected)


@pytest.mark.parametrize('direction,dims', [('horizontal', [-1]),
                                            ('vertical', [-2])])
def test_merge_undoes_flips(direction, dims):
    tta = OneFormerTTAModel(_tiny())
    scores = torch.rand(4, 5, 6)
    views = []
    for flip, view_scores in ((False, scores), (True, scores.flip(dims)),
                              (False, 3 * scores)):
        view, = data_samples(1, (5, 6))
        view.set_metainfo(dict(flip=flip, flip_direction=direction))
        view.pred_sem_seg = PixelData(sem_seg=view_scores.argmax(0)[None],
                                      scores=view_scores)
        views.append(view)
    merged, = tta.merge_preds([views])
    assert torch.equal(merged.pred_sem_seg.sem_seg[0], scores.argmax(0))
    assert 'scores' not in merged.pred_sem_seg


@pytest.mark.parametrize('test_cfg', [dict(task='panoptic'),
                                      dict(tasks=['panoptic', 'instance',
                                                  'semantic'])])
def test_panoptic_and_instance_tta_are_refused(test_cfg):
    # what mmdet's test.py --tta builds from a three-task or panoptic config
    with pytest.raises(ValueError) as err:
        OneFormerTTAModel(_tiny(**test_cfg))
    assert str(err.value).startswith(
        'Test-time augmentation is for the semantic task only')
    assert '\n' not in str(err.value)
    if 'task' in test_cfg:  # tools/test.py --tta: a panoptic-only config
        cfg = load_config(TOY, {'model.test_cfg.tasks': None,
                                'model.test_cfg.task': 'panoptic'},
                          '/tmp/unused', 'none')
        with pytest.raises(ValueError, match="model.test_cfg.task is 'panoptic'"):
            semantic_tta_config(cfg)


def test_tta_config_keeps_the_semantic_task_and_metric():
    cfg = semantic_tta_config(load_config(TOY, None, '/tmp/unused', 'none'))
    assert cfg.model.type == 'OneFormerTTAModel'
    assert cfg.model.module.test_cfg.task == 'semantic'
    assert cfg.model.module.test_cfg.tasks is None
    assert [e['type'] for e in cfg.test_evaluator] == ['SemSegMetric']
    transforms = cfg.test_dataloader.dataset.pipeline[1]['transforms']
    assert [t['scale'] for t in transforms[0]] == [64, 96, 128, 160, 192, 224]
    assert [t['prob'] for t in transforms[1]] == [0.0, 1.0]
    baseline = osp.join(REPO, 'configs/mask2former/mask2former_r18_toy-joint.py')
    with pytest.raises(ValueError, match="needs a OneFormer model, not "
                       "model.type='Mask2Former'"):
        semantic_tta_config(load_config(baseline, None, '/tmp/unused', 'none'))


@pytest.fixture(scope='module')
def toy_run(tmp_path_factory):
    """A folder with data/toy and a checkpoint of the toy model."""
    tmp = tmp_path_factory.mktemp('tta')
    make_toy_dataset(str(tmp / 'data' / 'toy'), num_train=2, num_val=2, size=64)
    init_default_scope('mmdet')
    torch.manual_seed(0)
    model = MODELS.build(Config.fromfile(TOY).model)
    model.init_weights()
    torch.save({'state_dict': model.state_dict()}, str(tmp / 'toy.pth'))
    return tmp


def _run(args, cwd):
    return subprocess.run(
        [sys.executable] + args, cwd=cwd, capture_output=True, text=True,
        env=dict(os.environ, PYTHONPATH=REPO, OMP_NUM_THREADS='1'), timeout=600)


def test_tools_test_tta_reports_multi_scale_miou(toy_run):
    proc = _run([osp.join(REPO, 'tools/test.py'), TOY, 'toy.pth', '--tta',
                 '--work-dir', 'ours'], toy_run)
    out = proc.stdout + proc.stderr
    assert proc.returncode == 0, out[-4000:]
    assert 'sem_seg/mIoU' in out and 'coco_panoptic/PQ' not in out


def test_mmdet_test_tta(toy_run):
    # a semantic-only test config: mmdet's test.py --tta wraps it in the
    # config's tta_model and reads the test set through its tta_pipeline
    config = toy_run / 'semantic.py'
    config.write_text(
        f'_base_ = {TOY!r}\n'
        "model = dict(test_cfg=dict(tasks=None, task='semantic'))\n"
        "test_evaluator = [dict(type='SemSegMetric', iou_metrics=['mIoU'], "
        "prefix='sem_seg')]\n")
    proc = _run([MMDET_TEST, str(config), 'toy.pth', '--tta', '--work-dir',
                 'mmdet_semantic'], toy_run)
    out = proc.stdout + proc.stderr
    assert proc.returncode == 0, out[-4000:]
    assert 'sem_seg/mIoU' in out
