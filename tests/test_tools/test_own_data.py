"""The README's "Train on your own COCO-panoptic data, starting from a released
model", followed literally on the toy data re-labelled to 6 classes (grass and
sand merged into ground), from a toy checkpoint of 7 classes: with the
fine-tuning switch it trains and validates; without it, and at test time, the
checkpoint is refused in one line; model class counts that are not the
metainfo's stop the run before the first iteration; a category the metainfo
lacks fails when the dataset loads."""
import json
import os
import os.path as osp
import re
import shutil
import subprocess
import sys

import pytest
import torch
from mmengine.config import Config
from mmengine.registry import init_default_scope

import projects.oneformer  # noqa: F401
from mmdet.registry import DATASETS, MODELS
from projects.common import build_runner, load_config
from tests.utils import REPO, make_toy_dataset

GRASS, SAND = 6, 7  # the toy's category ids
SHORT_RUN = ['train_cfg.max_iters=2', 'train_cfg.val_interval=2',
             'param_scheduler.end=2', 'default_hooks.checkpoint.interval=2',
             'default_hooks.logger.interval=1', 'train_dataloader.batch_size=2']


def _relabel(src: str, dst: str) -> None:
    """Copy the toy dataset to ``dst`` with grass and sand as one 'ground'."""
    shutil.copytree(src, dst)
    for split in ('train', 'val'):
        for kind in ('panoptic', 'instances'):
            path = osp.join(dst, 'annotations', f'{kind}_{split}.json')
            with open(path) as f:
                data = json.load(f)
            data['categories'] = [
                dict(c, name='ground') if c['id'] == GRASS else c
                for c in data['categories'] if c['id'] != SAND]
            segments = (data['annotations'] if kind == 'instances' else
                        [s for a in data['annotations'] for s in a['segments_info']])
            for segment in segments:
                if segment['category_id'] == SAND:
                    segment['category_id'] = GRASS
            with open(path, 'w') as f:
                json.dump(data, f)


def _readme_config() -> str:
    """The config block of the README's own-data walk-through."""
    with open(osp.join(REPO, 'README.md')) as f:
        readme = f.read()
    section = readme[readme.index('### Train on your own COCO-panoptic data'):]
    block = re.search(r'```python\n(.*?)```', section, re.S).group(1)
    return '\n'.join(line[3:] for line in block.splitlines())  # list indent


@pytest.fixture(scope='module')
def own_data(tmp_path_factory):
    """(config path, checkpoint of the 7-class toy model, data root)."""
    tmp = tmp_path_factory.mktemp('own_data')
    toy = make_toy_dataset(str(tmp / 'toy'), num_train=4, num_val=2, size=64)
    root = str(tmp / 'data' / 'my_data') + '/'
    _relabel(toy, root)
    # a "released model": the demo config's model, 7 classes
    cfg = Config.fromfile(osp.join(REPO, 'configs/oneformer_r18_toy.py'))
    init_default_scope('mmdet')
    checkpoint = str(tmp / 'demo.pth')
    torch.save({'state_dict': MODELS.build(cfg.model).state_dict()}, checkpoint)
    text = _readme_config()
    text = text.replace("'./oneformer_r18_toy.py'",
                        repr(osp.join(REPO, 'configs/oneformer_r18_toy.py')))
    text = text.replace("'data/my_data/'", repr(root))
    text = text.replace("'work_dirs/demo/iter_1000.pth'", repr(checkpoint))
    config = str(tmp / 'my_oneformer.py')
    with open(config, 'w') as f:
        f.write(text)
    return config, checkpoint, root


def test_readme_recipe_fine_tunes_and_validates(own_data, tmp_path):
    config, _, _ = own_data
    work_dir = str(tmp_path / 'work')
    proc = subprocess.run(
        [sys.executable, 'tools/train.py', config, '--work-dir', work_dir,
         '--cfg-options', *SHORT_RUN], cwd=REPO, capture_output=True, text=True,
        env=dict(os.environ, OMP_NUM_THREADS='1', PYTHONPATH=REPO), timeout=600)
    log = proc.stdout + proc.stderr
    assert proc.returncode == 0, log[-4000:]
    assert ('Fine-tuning: not loading panoptic_head.cls_embed.weight [8, 64] '
            '(model: [7, 64]), panoptic_head.cls_embed.bias [8] (model: [7])'
            in log)
    with open(osp.join(work_dir, 'task_metrics_val.json')) as f:
        table = json.load(f)
    assert set(table) >= {'panoptic', 'instance', 'semantic'}
    assert osp.exists(osp.join(work_dir, 'iter_2.pth'))


def _one_line_error(cfg, stage='train'):
    runner = build_runner(cfg)
    with pytest.raises(ValueError) as err:
        getattr(runner, stage)()
    assert '\n' not in str(err.value)
    return str(err.value)


def test_without_the_switch_and_at_test_time_the_checkpoint_is_refused(
        own_data, tmp_path):
    config, checkpoint, _ = own_data
    cfg = load_config(config, dict(finetune=False), str(tmp_path / 'a'), 'none')
    message = _one_line_error(cfg)
    assert message.startswith('Checkpoint has 7 classes (cls_embed has 8 rows '
                              'incl. no-object) but the model has 6 classes')
    assert 'tools/train.py --finetune' in message
    # tools/test.py's path: finetune in the config does not apply
    cfg = load_config(config, None, str(tmp_path / 'b'), 'none')
    cfg.load_from = checkpoint
    assert _one_line_error(cfg, 'test') == message


def test_class_counts_not_the_metainfo_stop_before_training(own_data, tmp_path):
    config, _, _ = own_data
    # the old recipe: the dataset's metainfo changed, the model's counts not
    cfg = load_config(config, None, str(tmp_path), 'none')
    toy = Config.fromfile(osp.join(REPO, 'configs/oneformer_r18_toy.py'))
    cfg.model = toy.model
    cfg.load_from = None
    message = _one_line_error(cfg)
    assert message.startswith(
        'The model does not fit the classes of train_dataloader.dataset '
        '(OneFormerPanopticDataset, metainfo: 3 thing + 3 stuff classes): ')
    for problem in ('model.panoptic_head.num_stuff_classes=4 (set 3)',
                    'model.panoptic_fusion_head.num_stuff_classes=4 (set 3)',
                    'model.panoptic_head.loss_cls.class_weight has 8 entries '
                    '(set 7'):
        assert problem in message
    assert 'num_things_classes' not in message


def test_a_category_the_metainfo_lacks_fails_at_load(own_data):
    config, _, root = own_data
    cfg = Config.fromfile(config)
    dataset = cfg.train_dataloader.dataset
    dataset.metainfo = dict(cfg.metainfo, classes=cfg.metainfo['classes'][:-1],
                            stuff_classes=cfg.metainfo['stuff_classes'][:-1])
    init_default_scope('mmdet')
    with pytest.raises(ValueError, match=re.escape(
            f'{root}annotations/panoptic_train.json: segment ') +
            r'\d+ of image train_\d+\.png \(id \d+\) has unknown category_id '
            rf'{GRASS};'):
        DATASETS.build(dataset)
