"""Key mappings of the ConvNeXt and DiNAT backbones (converters/backbones.py).

detectron2 layout: the released state dict is built from ours by an
independent inverse mapping written here; converting it back must give our
state dict exactly. Hugging Face layout: a tiny random HF backbone converted
by ``hf_rules`` + ``d2_rules`` must give the same features.
"""
import re
import sys

import pytest
import torch

from projects.common.converters import (BACKBONES, ConversionReport,
                                        get_backbone, rename)
from projects.oneformer.models.backbones import DiNAT
from tests.test_models.tiny_oneformer import ConvNeXt

HF_PREFIX = 'pixel_level_module.encoder.'
CONVNEXT_ARCH = dict(depths=[1, 1, 2, 1], channels=[8, 16, 32, 64])
DINAT_CFG = dict(
    embed_dim=16,
    depths=(1, 2, 2, 1),
    num_heads=(1, 2, 2, 4),
    kernel_size=3,
    dilations=[[1], [1, 3], [2, 1], [1]],
    mlp_ratio=2.)


def released_convnext_state_dict(ours):
    """Our (mmpretrain) names -> the released D2ConvNeXt names."""
    out = {}
    for key, value in ours.items():
        for old, new in (('depthwise_conv', 'dwconv'),
                         ('pointwise_conv1', 'pwconv1'),
                         ('pointwise_conv2', 'pwconv2')):
            key = key.replace(f'.{old}.', f'.{new}.')
        out['backbone.' + key] = value
    return out


def _d2_to_ours(name, released):
    report = ConversionReport()
    converted = rename(released, get_backbone(name).d2_rules, report)
    assert not report.unmapped and not report.dropped, report.format()
    return {k[len('backbone.'):]: v for k, v in converted.items()}


def _assert_same(converted, ours):
    assert converted.keys() == ours.keys()
    for key, value in ours.items():
        assert converted[key].equal(value), key


def test_backbones_registered():
    assert {'resnet', 'swin', 'convnext', 'dinat'} <= set(BACKBONES)


def test_convnext_d2_round_trip():
    ours = ConvNeXt(arch=CONVNEXT_ARCH, layer_scale_init_value=1.0)
    state = ours.state_dict()
    released = released_convnext_state_dict(state)
    assert 'backbone.stages.2.1.pwconv1.weight' in released
    assert 'backbone.norm3.bias' in released
    _assert_same(_d2_to_ours('convnext', released), state)


def test_dinat_d2_round_trip():
    """Our DiNAT keeps the released D2DiNAT names: the mapping only has to
    recognise every key."""
    state = DiNAT(**DINAT_CFG).state_dict()
    released = {'backbone.' + k: v for k, v in state.items()}
    for key in ('backbone.patch_embed.proj.1.weight',
                'backbone.levels.1.blocks.1.attn.rpb',
                'backbone.levels.2.downsample.reduction.weight',
                'backbone.norm0.weight'):
        assert key in released
    _assert_same(_d2_to_ours('dinat', released), state)


def _hf_to_ours(name, hf_state):
    mapping = get_backbone(name)
    state = {HF_PREFIX + k: v for k, v in hf_state.items()}
    if mapping.hf_pre is not None:
        state = mapping.hf_pre(state)
    report = ConversionReport()
    released = rename(state, mapping.hf_rules, report)
    assert not report.unmapped, report.format()
    return _d2_to_ours(name, released)


def _compare_features(ours, hf, images):
    ours.eval()
    hf.eval()
    with torch.no_grad():
        feats = ours(images)
        hf_feats = hf(images).feature_maps
    assert len(feats) == len(hf_feats) == 4
    for a, b in zip(feats, hf_feats):
        assert a.shape == b.shape
        assert (a - b).abs().max() < 1e-4
        assert b.std() > 0.1


def test_convnext_hf_parity():
    from transformers import ConvNextBackbone, ConvNextConfig
    torch.manual_seed(0)
    hf = ConvNextBackbone(
        ConvNextConfig(
            hidden_sizes=CONVNEXT_ARCH['channels'],
            depths=CONVNEXT_ARCH['depths'],
            layer_scale_init_value=1.0,
            out_features=['stage1', 'stage2', 'stage3', 'stage4']))
    for p in hf.parameters():  # non-trivial norms and layer scales
        p.data.normal_(0, 0.3)
    ours = ConvNeXt(arch=CONVNEXT_ARCH, layer_scale_init_value=1.0)
    converted = _hf_to_ours('convnext', hf.state_dict())
    _assert_same(converted, {
        k: converted[k]
        for k in ours.state_dict()
    })
    ours.load_state_dict(converted, strict=True)
    _compare_features(ours, hf, torch.randn(2, 3, 64, 96))


@pytest.fixture
def hf_dinat(monkeypatch):
    """transformers' DiNAT module, importable beside any NATTEN.

    transformers 4.55 imports ``natten.functional.natten2dqkrpb`` and
    ``natten2dav``, which NATTEN >= 0.20 no longer has, so stand-ins are
    injected for the import. Its forward cannot run anyway: 4.55's
    ``NeighborhoodAttention.forward`` unpacks a [B, H, W, C] input into 3
    values (a refactoring bug), so parity is checked module by module.
    """
    import importlib
    import types
    functional = types.ModuleType('natten.functional')
    functional.natten2dqkrpb = functional.natten2dav = None
    fake = types.ModuleType('natten')
    fake.functional = functional
    monkeypatch.setitem(sys.modules, 'natten', fake)
    monkeypatch.setitem(sys.modules, 'natten.functional', functional)
    name = 'transformers.models.dinat.modeling_dinat'
    sys.modules.pop(name, None)
    module = importlib.import_module(name)
    monkeypatch.setattr(module, 'requires_backends', lambda *a, **k: None)
    yield module
    sys.modules.pop(name, None)


def test_dinat_hf_mapping(hf_dinat):
    from transformers import DinatConfig
    torch.manual_seed(0)
    hf = hf_dinat.DinatBackbone(
        DinatConfig(
            embed_dim=DINAT_CFG['embed_dim'],
            depths=list(DINAT_CFG['depths']),
            num_heads=list(DINAT_CFG['num_heads']),
            kernel_size=DINAT_CFG['kernel_size'],
            dilations=DINAT_CFG['dilations'],
            mlp_ratio=DINAT_CFG['mlp_ratio'],
            out_features=['stage1', 'stage2', 'stage3', 'stage4'])).eval()
    for p in hf.parameters():
        p.data.normal_(0, 0.3)
    ours = DiNAT(**DINAT_CFG).eval()
    ours.load_state_dict(_hf_to_ours('dinat', hf.state_dict()), strict=True)
    x = torch.randn(1, 3, 32, 32)
    with torch.no_grad():
        assert ours.patch_embed(x).equal(
            hf.embeddings.norm(hf.embeddings.patch_embeddings(x)))
        for i, (level, hf_level) in enumerate(
                zip(ours.levels, hf.encoder.levels)):
            tokens = torch.randn(1, 5, 6, ours.num_features[i])
            for block, hf_block in zip(level.blocks, hf_level.layers):
                hf_attn = hf_block.attention
                # q, k, v stacked in the fused qkv in that order
                assert block.attn.qkv(tokens).equal(
                    torch.cat([
                        getattr(hf_attn.self, n)(tokens)
                        for n in ('query', 'key', 'value')
                    ], -1))
                assert block.attn.rpb.equal(hf_attn.self.rpb)
                assert block.attn.proj(tokens).equal(
                    hf_attn.output.dense(tokens))
                assert block.norm1(tokens).equal(
                    hf_block.layernorm_before(tokens))
                assert block.norm2(tokens).equal(
                    hf_block.layernorm_after(tokens))
                assert block.mlp(tokens).equal(
                    hf_block.output.dense(
                        hf_block.intermediate(tokens)))
            if level.downsample is not None:
                assert level.downsample(tokens).equal(
                    hf_level.downsample(tokens))
            norm = hf.hidden_states_norms[f'stage{i + 1}']
            assert getattr(ours, f'norm{i}')(tokens).equal(norm(tokens))
