"""The tools' config loading: one ``data_root`` override moves every path of
the toy configs; the progress bar is on by default for a terminal."""
import io
import os.path as osp

import pytest
from mmengine.config import Config

from projects.common import add_progress_bar_for_terminal, load_config
from tests.utils import REPO


def _paths(cfg):
    loaders = [cfg[f'{s}_dataloader'].dataset.data_root for s in ('train', 'val', 'test')]
    evaluators = [e[k] for e in cfg.val_evaluator + cfg.test_evaluator
                  for k in ('ann_file', 'seg_prefix') if k in e]
    return loaders + evaluators


@pytest.mark.parametrize('config', ['configs/oneformer_r18_toy.py',
                                    'configs/mask2former/mask2former_r18_toy-joint.py',
                                    'configs/maskformer/maskformer_r18_toy-panoptic.py'])
def test_one_data_root_override_moves_every_path(config):
    path = osp.join(REPO, config)
    before = _paths(Config.fromfile(path))
    # 3 dataloader roots, 3 evaluator paths each for validation and test
    assert len(before) == 9 and all(p.startswith('data/toy/') for p in before)
    cfg = load_config(path, {'data_root': '/elsewhere/mine',
                             'train_dataloader.batch_size': 3}, None, 'none')
    after = _paths(cfg)
    assert after == [p.replace('data/toy/', '/elsewhere/mine/') for p in before]
    assert cfg.data_root == '/elsewhere/mine/'
    assert cfg.train_dataloader.batch_size == 3  # the other options still apply


class _Stream(io.StringIO):
    def __init__(self, tty):
        super().__init__()
        self.tty = tty

    def isatty(self):
        return self.tty


def test_progress_bar_by_default_on_a_terminal():
    cfg = Config(dict(custom_hooks=[dict(type='TaskMetricsTableHook')]))
    assert not add_progress_bar_for_terminal(cfg, _Stream(False))
    assert add_progress_bar_for_terminal(cfg, _Stream(True))
    assert [h['type'] for h in cfg.custom_hooks] == [
        'TaskMetricsTableHook', 'TrainProgressBarHook']
    assert not add_progress_bar_for_terminal(cfg, _Stream(True))  # only one
