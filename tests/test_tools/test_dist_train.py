"""tools/dist_train.sh launches 2 CPU processes (gloo) and tools/test.py evaluates."""
import json
import os
import os.path as osp
import subprocess
import sys

import pytest

from tests.utils import REPO, make_toy_dataset

CONFIG = 'configs/mask2former/mask2former_r50_8xb2-toy-panoptic.py'


@pytest.fixture(scope='module')
def toy_root(tmp_path_factory):
    return make_toy_dataset(str(tmp_path_factory.mktemp('toy')), num_train=4,
                            num_val=2, size=64)


def _data_options(root):
    opts = []
    for split in ('train', 'val', 'test'):
        opts.append(f'{split}_dataloader.dataset.data_root={root}/')
    for split in ('val', 'test'):
        for i, ann in enumerate(('panoptic_val.json', 'instances_val.json')):
            opts.append(f'{split}_evaluator.{i}.ann_file={root}/annotations/{ann}')
        opts.append(f'{split}_evaluator.0.seg_prefix={root}/annotations/panoptic_val/')
    return opts


def _env():
    env = dict(os.environ, PYTHON=sys.executable, OMP_NUM_THREADS='1',
               PYTHONPATH=REPO)
    env.pop('CUDA_VISIBLE_DEVICES', None)
    return env


def test_dist_train_two_cpu_processes_then_test(toy_root, tmp_path):
    work_dir = str(tmp_path / 'work')
    opts = _data_options(toy_root) + [
        'train_cfg.max_iters=3', 'train_cfg.val_interval=100',
        'default_hooks.checkpoint.interval=3', 'default_hooks.logger.interval=1',
        'train_dataloader.batch_size=1', 'randomness.seed=0']
    proc = subprocess.run(
        ['bash', 'tools/dist_train.sh', CONFIG, '2', '--work-dir', work_dir,
         '--cfg-options', *opts],
        cwd=REPO, env=dict(_env(), PORT='29611'), capture_output=True, text=True,
        timeout=600)
    log = proc.stdout + proc.stderr
    assert proc.returncode == 0, log[-4000:]
    # mmengine's environment report: a gloo process group of 2 ranks
    for line in ("dist_cfg: {'backend': 'gloo'}", 'Distributed training: True',
                 'GPU number: 2'):
        assert line in log, log[-3000:]
    assert 'Iter(train) [3/3]' in log
    ckpt = osp.join(work_dir, 'iter_3.pth')
    assert osp.exists(ckpt)

    proc = subprocess.run(
        [sys.executable, 'tools/test.py', CONFIG, ckpt, '--work-dir',
         str(tmp_path / 'test'), '--cfg-options', *_data_options(toy_root),
         # after 3 iterations the top-100 (query, class) pairs can all be stuff, which
         # leaves mask AP nothing to score: keep every pair (100 queries x 7 classes)
         'model.test_cfg.max_per_image=700'],
        cwd=REPO, env=_env(), capture_output=True, text=True, timeout=600)
    log = proc.stdout + proc.stderr
    assert proc.returncode == 0, log[-4000:]
    assert 'coco_panoptic/PQ' in log and 'coco/segm_mAP' in log, log[-3000:]


def test_dist_train_swin_l_ade20k_config_two_iterations(toy_root, tmp_path):
    """The paper's headline config as users launch it, on the toy data with a
    64 x 64 crop (full Swin-L OneFormer, 250 queries, random weights)."""
    things, stuff = ['circle', 'square', 'triangle'], ['sky', 'wall', 'grass', 'sand']
    data = 'train_dataloader.dataset.'
    crop = '(64,64)'
    opts = [
        f'{data}type=OneFormerPanopticDataset', f'{data}data_root={toy_root}/',
        f'{data}ann_file=annotations/panoptic_train.json',
        f'{data}data_prefix.img=train/',
        f'{data}data_prefix.seg=annotations/panoptic_train/',
        f'{data}metainfo.classes={things + stuff}',
        f'{data}metainfo.thing_classes={things}',
        f'{data}metainfo.stuff_classes={stuff}',
        # RandomChoiceResize, RandomCrop and Pad of the 640x640 pipeline
        f'{data}pipeline.2.scales=[64,80]', f'{data}pipeline.2.max_size=256',
        f'{data}pipeline.3.crop_size={crop}', f'{data}pipeline.6.size={crop}',
        'train_dataloader.batch_size=1', 'train_dataloader.num_workers=0',
        'train_dataloader.persistent_workers=False',
        'model.backbone.init_cfg=None',
        'model.panoptic_head.num_things_classes=3',
        'model.panoptic_head.num_stuff_classes=4',
        f'model.panoptic_head.loss_cls.class_weight={[1.0] * 7 + [0.1]}',
        'model.panoptic_fusion_head.num_things_classes=3',
        'model.panoptic_fusion_head.num_stuff_classes=4',
        'train_cfg.max_iters=2', 'param_scheduler.end=2',
        'default_hooks.checkpoint.interval=2', 'default_hooks.logger.interval=1',
        'val_dataloader=None', 'val_cfg=None', 'val_evaluator=None',
        'randomness.seed=0']
    proc = subprocess.run(
        ['bash', 'tools/dist_train.sh', 'configs/oneformer_swin-l_ade20k.py', '2',
         '--work-dir', str(tmp_path / 'work'), '--cfg-options', *opts],
        cwd=REPO, env=dict(_env(), PORT='29613'), capture_output=True, text=True,
        timeout=900)
    log = proc.stdout + proc.stderr
    assert proc.returncode == 0, log[-4000:]
    for line in ("dist_cfg: {'backend': 'gloo'}", 'GPU number: 2',
                 'AMP (AmpOptimWrapper) is off', 'Iter(train) [2/2]',
                 'loss_contrastive'):
        assert line in log, log[-3000:]
    assert osp.exists(tmp_path / 'work' / 'iter_2.pth')
