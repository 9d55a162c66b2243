"""The model index (model-index.yml and one metafile.yml per model family):
every listed config exists and parses, its alias is a config too, and
``mim search`` lists the OneFormer configs."""
import os.path as osp
import subprocess
import sys

import pytest
import yaml
from mmengine.config import Config

from tests.utils import REPO


def _models():
    with open(osp.join(REPO, 'model-index.yml')) as f:
        index = yaml.safe_load(f)
    models = []
    for metafile in index['Import']:
        with open(osp.join(REPO, metafile)) as f:
            meta = yaml.safe_load(f)
        names = {c['Name'] for c in meta['Collections']}
        for model in meta['Models']:
            assert model['In Collection'] in names, model['Name']
            models.append(model)
    return models


MODELS = _models()


def test_index_covers_every_family_and_paper_config():
    collections = {m['In Collection'] for m in MODELS}
    assert collections == {'OneFormer', 'Mask2Former', 'MaskFormer',
                           'Panoptic SegFormer'}
    listed = {m['Config'] for m in MODELS}
    import glob
    for path in glob.glob(osp.join(REPO, 'configs/oneformer/*.py')):
        assert osp.relpath(path, REPO) in listed
    names = [m['Name'] for m in MODELS]
    assert len(names) == len(set(names))


@pytest.mark.parametrize('model', MODELS, ids=[m['Name'] for m in MODELS])
def test_listed_config_exists_and_parses(model):
    cfg = Config.fromfile(osp.join(REPO, model['Config']))
    assert 'model' in cfg
    assert osp.splitext(osp.basename(model['Config']))[0] == model['Name']
    for alias in model.get('Alias', []):
        alias_cfg = Config.fromfile(osp.join(REPO, 'configs', alias + '.py'))
        assert alias_cfg.model == cfg.model


def test_mim_search_lists_the_oneformer_configs():
    proc = subprocess.run(
        [sys.executable, '-m', 'mim', 'search', 'oneformer-mm', '--field',
         'config'], cwd=REPO, capture_output=True, text=True, timeout=300)
    assert proc.returncode == 0, proc.stdout + proc.stderr
    for model in MODELS:
        if model['In Collection'] == 'OneFormer':
            assert model['Name'] in proc.stdout
