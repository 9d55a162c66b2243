"""The configs seed each rank differently (``randomness.diff_rank_seed``): without
dataloader workers the tasks (and flips, crops) of two ranks are drawn in the main
processes, from numpy's generator."""
import pytest
from mmengine.config import Config
from mmengine.runner import set_random_seed

from projects.oneformer.datasets.transforms import OneFormerTaskSampling
from tests.utils import REPO


def _tasks(monkeypatch, randomness, rank):
    monkeypatch.setattr('mmengine.runner.utils.get_rank', lambda: rank)
    set_random_seed(**randomness)  # what the Runner does on each rank
    sampling = OneFormerTaskSampling(num_texts=4, class_names=['a', 'b'],
                                     num_things_classes=1)
    return [sampling._sample_task() for _ in range(32)]


@pytest.mark.parametrize('config', ['configs/oneformer_r18_toy.py',
                                    'configs/oneformer_swin-l_ade20k.py',
                                    'configs/mmseg/oneformer_r50_8xb2-160k_'
                                    'ade20k-512x512.py'])
def test_configs_seed_ranks_differently(config):
    randomness = Config.fromfile(f'{REPO}/{config}').randomness
    assert randomness.diff_rank_seed is True


def test_two_ranks_draw_different_tasks(monkeypatch):
    randomness = dict(Config.fromfile(f'{REPO}/configs/oneformer_r18_toy.py')
                      .randomness)
    assert randomness['seed'] == 0
    rank0, rank1 = (_tasks(monkeypatch, randomness, r) for r in (0, 1))
    assert rank0 != rank1
    assert rank0 == _tasks(monkeypatch, randomness, 0)  # still reproducible
    same = dict(randomness, diff_rank_seed=False)  # mmengine's default
    assert _tasks(monkeypatch, same, 0) == _tasks(monkeypatch, same, 1)
