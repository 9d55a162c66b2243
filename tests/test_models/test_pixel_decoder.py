"""The pixel decoder with Python level sizes against mmdet's and mmcv's."""
import pytest
import torch
from mmcv.ops import MultiScaleDeformableAttention
from mmcv.ops.multi_scale_deform_attn import multi_scale_deformable_attn_pytorch
from mmengine.config import ConfigDict

from mmdet.models.layers import MSDeformAttnPixelDecoder
from projects.oneformer.models import (MultiLevelDeformableAttention,
                                       OneFormerPixelDecoder)
from projects.oneformer.models.deformable_attention import (
    deformable_attention_core, deformable_attention_gather)
from tests.test_models.tiny_oneformer import tiny_model_cfg

SIZES = [(4, 6), (8, 12), (16, 24)]


def _sampling_inputs(requires_grad=False):
    torch.manual_seed(0)
    value = torch.randn(2, sum(h * w for h, w in SIZES), 4, 8)
    locations = torch.rand(2, 10, 4, 3, 4, 2) * 1.4 - 0.2  # some outside
    # the level's edges and far outside it
    locations[0, :5, 0, :, 0] = torch.tensor(
        [[0., 0.], [1., 1.], [0., 1.], [-2., 0.5], [0.5, 3.]])[:, None]
    weights = torch.rand(2, 10, 4, 3, 4).flatten(-2).softmax(-1).view(
        2, 10, 4, 3, 4)
    return [t.requires_grad_(requires_grad) for t in (value, locations,
                                                      weights)]


@pytest.mark.parametrize(
    'core', [deformable_attention_core, deformable_attention_gather])
def test_core_matches_mmcv_pytorch_path(core):
    value, locations, weights = _sampling_inputs()
    expected = multi_scale_deformable_attn_pytorch(
        value, torch.tensor(SIZES), locations, weights)
    got = core(value, SIZES, locations, weights)
    assert got.shape == expected.shape == (2, 10, 32)
    assert (got - expected).abs().max() < 1e-6


def test_gather_core_gradients_match_mmcv_pytorch_path():
    """Gradients to the values, the sampling locations (bilinear weights)
    and the attention weights."""
    grads = []
    for core in (deformable_attention_gather,
                 lambda v, s, loc, w: multi_scale_deformable_attn_pytorch(
                     v, torch.tensor(s), loc, w)):
        inputs = _sampling_inputs(requires_grad=True)
        out = core(inputs[0], SIZES, *inputs[1:])
        (out * torch.linspace(-1, 1, out.numel()).view_as(out)).sum().backward()
        grads.append([t.grad for t in inputs])
    for ours, theirs in zip(*grads):
        assert theirs.abs().max() > 0.01
        assert (ours - theirs).abs().max() < 1e-5


def test_attention_matches_mmcv_module():
    torch.manual_seed(0)
    ours = MultiLevelDeformableAttention(
        embed_dims=32, num_heads=4, num_levels=3, batch_first=True).eval()
    theirs = MultiScaleDeformableAttention(
        embed_dims=32, num_heads=4, num_levels=3, batch_first=True).eval()
    with torch.no_grad():
        for p in ours.parameters():
            p.normal_(0, 0.3)
    theirs.load_state_dict(ours.state_dict())
    length = sum(h * w for h, w in SIZES)
    query = torch.randn(2, length, 32)
    pos = torch.randn(2, length, 32)
    reference = torch.rand(2, length, 3, 2)
    shapes = torch.tensor(SIZES)
    starts = torch.cat([shapes.new_zeros(1), shapes.prod(1).cumsum(0)[:-1]])
    with torch.no_grad():
        expected = theirs(query, query_pos=pos, reference_points=reference,
                          spatial_shapes=shapes, level_start_index=starts)
        got = ours(query, query_pos=pos, reference_points=reference,
                   level_sizes=SIZES)
    assert (got - expected).abs().max() < 1e-5


def test_attention_gradients_match_mmcv_module():
    """Training: gradients to the queries and to every parameter (the eager
    path computes the offsets and attention weights in its own layout)."""
    torch.manual_seed(0)
    modules = [cls(embed_dims=32, num_heads=4, num_levels=3, dropout=0.,
                   batch_first=True)
               for cls in (MultiLevelDeformableAttention,
                           MultiScaleDeformableAttention)]
    with torch.no_grad():
        for p in modules[0].parameters():
            p.normal_(0, 0.3)
    modules[1].load_state_dict(modules[0].state_dict())
    length = sum(h * w for h, w in SIZES)
    query, pos = torch.randn(2, length, 32), torch.randn(2, length, 32)
    reference = torch.rand(2, length, 3, 2)
    shapes = torch.tensor(SIZES)
    starts = torch.cat([shapes.new_zeros(1), shapes.prod(1).cumsum(0)[:-1]])
    grads = []
    for module, kwargs in zip(modules, (
            dict(level_sizes=SIZES),
            dict(spatial_shapes=shapes, level_start_index=starts))):
        x = query.clone().requires_grad_()
        out = module(x, query_pos=pos, reference_points=reference, **kwargs)
        (out * torch.linspace(-1, 1, out.numel()).view_as(out)).sum().backward()
        grads.append([x.grad] + [p.grad for p in module.parameters()])
    for ours, theirs in zip(*grads):
        assert theirs.abs().max() > 1e-3
        torch.testing.assert_close(ours, theirs, rtol=1e-4, atol=1e-4)


def test_pixel_decoder_matches_mmdet():
    cfg = ConfigDict(tiny_model_cfg().panoptic_head.pixel_decoder)
    cfg.pop('type')
    cfg.update(in_channels=[64, 128, 256, 512], strides=[4, 8, 16, 32],
               feat_channels=64, out_channels=64)
    torch.manual_seed(0)
    theirs = MSDeformAttnPixelDecoder(**cfg)
    torch.manual_seed(0)
    ours = OneFormerPixelDecoder(**cfg)
    # the same modules, names and initial values
    assert all(a.equal(b) for a, b in zip(ours.state_dict().values(),
                                          theirs.state_dict().values()))
    ours.init_weights()
    theirs.load_state_dict(ours.state_dict())
    feats = [torch.randn(2, c, 64 // s, 96 // s)
             for c, s in zip([64, 128, 256, 512], [4, 8, 16, 32])]
    with torch.no_grad():
        mask_ours, outs_ours = ours.eval()(feats)
        mask_theirs, outs_theirs = theirs.eval()(feats)
    assert (mask_ours - mask_theirs).abs().max() < 1e-5
    for a, b in zip(outs_ours, outs_theirs):
        assert a.shape == b.shape and (a - b).abs().max() < 1e-5
