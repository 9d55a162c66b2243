"""Numerical parity with the Hugging Face OneFormer on a Swin backbone.

A tiny random HF model with a ``SwinConfig`` backbone is converted with the
HF converter (``backbone='swin'``: HF -> released layout -> mmdet, including
the patch-merging reorder to mmdet's ``nn.Unfold`` order); all 10 class/mask
predictions and the contrastive queries must match. The image size makes the
last stage's width (5) not a multiple of the window (2), so the padded
shifted-window path is compared too.
"""
import pytest
import torch
from tests.test_models.tiny_oneformer import (build_tiny_model,
                                              hf_prediction_diffs,
                                              tiny_hf_model)

from projects.oneformer.converters import convert_hf_state_dict

TOL = 1e-4
HEIGHT, WIDTH = 128, 160


@pytest.fixture(scope='module')
def models():
    hf = tiny_hf_model(backbone='swin')
    state_dict, report = convert_hf_state_dict(
        hf.state_dict(), backbone='swin')
    assert report.ok and not report.unmapped, report.format()
    # the HF relative position index buffers are dropped on purpose
    assert len(report.dropped) == 1 + 8
    ours = build_tiny_model(backbone='swin')
    # the index buffers the converter rebuilds are mmdet's own
    for key, value in ours.state_dict().items():
        if key.endswith('relative_position_index'):
            assert state_dict[key].equal(value), key
    ours.load_state_dict(state_dict, strict=True)
    return hf, ours


@pytest.mark.parametrize('tasks', [('panoptic', 'semantic'),
                                   ('instance', 'instance')])
def test_swin_predictions_match_hf(models, tasks):
    hf, ours = models
    torch.manual_seed(1)
    images = torch.randn(len(tasks), 3, HEIGHT, WIDTH)
    diffs, hf_out = hf_prediction_diffs(hf, ours, images, tasks)
    print(f'max abs diff vs HF (swin) {tasks}: {max(diffs.values()):.2e}',
          diffs)
    assert max(diffs.values()) < TOL, diffs
    # the comparison is meaningful: predictions are not near-constant
    assert hf_out.masks_queries_logits.std() > 0.1
    assert hf_out.class_queries_logits.std() > 0.1


def test_swin_backbone_features_match_hf(models):
    """Each stage output (after its output norm) matches HF's."""
    hf, ours = models
    torch.manual_seed(2)
    images = torch.randn(1, 3, HEIGHT, WIDTH)
    with torch.no_grad():
        hf_feats = hf.model.pixel_level_module.encoder(images).feature_maps
        feats = ours.backbone(images)
    assert len(feats) == len(hf_feats) == 4
    for a, b in zip(feats, hf_feats):
        assert a.shape == b.shape
        assert (a - b).abs().max().item() < TOL


def test_patch_merging_needs_the_unfold_reorder(models):
    """Without the reorder the converted backbone differs: the check is not
    vacuous (HF's concatenation order is the released one, not mmdet's)."""
    hf, ours = models
    from projects.common.converters.backbones import \
        _merging_to_unfold_order
    state = ours.state_dict()
    key = 'backbone.stages.0.downsample.reduction.weight'
    hf_key = 'model.pixel_level_module.encoder.encoder.layers.0.downsample.' \
        'reduction.weight'
    assert state[key].equal(_merging_to_unfold_order(hf.state_dict()[hf_key]))
    assert not state[key].equal(hf.state_dict()[hf_key])
