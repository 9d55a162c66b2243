"""Test-wide settings: one torch thread (2-core CI machines are many times slower with
oversubscribed threads on tiny models), no network, deterministic seeds, and no
registry scope left behind by an earlier test."""
import os

os.environ.setdefault('HF_HUB_OFFLINE', '1')
os.environ.setdefault('TRANSFORMERS_OFFLINE', '1')

import pytest  # noqa: E402
import torch  # noqa: E402
from mmengine.registry import DefaultScope  # noqa: E402

torch.set_num_threads(1)


@pytest.fixture(autouse=True)
def _seed():
    torch.manual_seed(0)
    yield


@pytest.fixture(autouse=True)
def _forget_default_scopes():
    """Drop the default scopes a test made (a Runner with
    ``default_scope='mmengine'`` would send the next test's mmdet builds to
    mmengine's registries)."""
    before = set(DefaultScope._instance_dict)
    yield
    for name in set(DefaultScope._instance_dict) - before:
        del DefaultScope._instance_dict[name]
