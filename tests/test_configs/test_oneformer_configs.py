"""Every OneFormer config of the paper parses, builds and runs one forward.

Models are built as configured (full size, random weights: pretrained loading is
disabled) and predict all three tasks on one small image. Configs whose models
are identical apart from their pretrained checkpoint are built once.
"""
import glob
import os.path as osp

import pytest
import torch
from mmengine.config import Config
from mmengine.registry import init_default_scope

import projects.oneformer  # noqa: F401
from mmdet.registry import MODELS
from mmdet.structures import DetDataSample
from tests.utils import REPO

# the paper's configs (the toy configs beside them have no alias)
CONFIGS = sorted(p for p in glob.glob(osp.join(REPO, 'configs/oneformer/*.py'))
                 if '_toy' not in osp.basename(p))
ALIASES = sorted(p for p in glob.glob(osp.join(REPO, 'configs/oneformer_*.py'))
                 if not p.endswith('_toy.py'))


def _without_pretrained(model_cfg):
    model_cfg.backbone.init_cfg = None
    return model_cfg


def _distinct_models():
    seen, out = [], []
    for path in CONFIGS:
        model = _without_pretrained(Config.fromfile(path).model)
        if model not in seen:
            seen.append(model)
            out.append(path)
    return out


def test_every_config_has_an_alias():
    """configs/oneformer_<backbone>_<dataset>.py names each mmdet-convention
    config (oneformer_<backbone>_8xb2-<schedule>_<dataset>-<crop>.py)."""
    assert len(CONFIGS) == 19
    targets = []
    for alias in ALIASES:
        base = Config._get_base_files(alias)
        assert len(base) == 1, alias
        targets.append(osp.normpath(osp.join(osp.dirname(alias), base[0])))
    assert sorted(targets) == CONFIGS


@pytest.mark.parametrize('path', _distinct_models(),
                         ids=lambda p: osp.basename(p)[:-3])
def test_build_and_forward(path):
    cfg = Config.fromfile(path)
    init_default_scope('mmdet')
    model = MODELS.build(_without_pretrained(cfg.model))
    model.eval()
    head = model.panoptic_head
    assert head.num_queries == model.test_cfg.max_per_image
    if head.text_mapper is not None:
        # N_text of the pipeline + the learnable contexts = the queries
        assert (cfg.train_dataloader.dataset.num_texts +
                head.text_mapper.prompt_ctx.num_embeddings) == head.num_queries
    image = torch.randint(0, 256, (3, 64, 96), dtype=torch.uint8)
    sample = DetDataSample(metainfo=dict(
        img_shape=(64, 96), ori_shape=(64, 96), scale_factor=(1., 1.)))
    data = model.data_preprocessor(
        dict(inputs=[image], data_samples=[sample]), False)
    with torch.no_grad():
        out = model(**data, mode='predict')[0]
    assert out.pred_panoptic_seg.sem_seg.shape == (1, 64, 96)
    assert out.pred_sem_seg.sem_seg.shape == (1, 64, 96)
    # instance: top-N (query, class) pairs, thing classes kept
    assert len(out.pred_instances) <= head.num_queries
    assert out.pred_instances.masks.shape[1:] == (64, 96)


@pytest.mark.parametrize(
    'path', sorted(set(glob.glob(osp.join(REPO, 'configs/**/*.py'),
                                 recursive=True)) -
                   set(glob.glob(osp.join(REPO, 'configs/**/_base_/**/*.py'),
                                 recursive=True)) -
                   set(glob.glob(osp.join(REPO, 'configs/mmseg/*.py')))),
    ids=lambda p: osp.relpath(p, osp.join(REPO, 'configs'))[:-3])
def test_image_pipeline_needs_no_annotations(path, tmp_path):
    """The demo's pipeline of every mmdet config runs on a bare image file:
    every ground-truth loader is dropped, whatever its name."""
    import mmcv

    from projects.oneformer.apis.inference import image_test_pipeline
    init_default_scope('mmdet')
    image = tmp_path / 'photo.jpg'
    mmcv.imwrite(torch.randint(0, 256, (40, 60, 3), dtype=torch.uint8).numpy(),
                 str(image))
    packed = image_test_pipeline(Config.fromfile(path))(
        dict(img_path=str(image), img_id=0))
    assert packed['inputs'].shape[0] == 3
    assert 'gt_sem_seg' not in packed['data_samples']
