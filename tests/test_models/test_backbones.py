"""ConvNeXt (mmpretrain, as OneFormer uses it), DiNAT and Swin backbones (tiny
sizes, CPU).

The dilated neighbourhood attention is checked against an explicit loop over
every query that uses NATTEN 0.14's own window-start and bias-start formulas
(the op the released weights were trained with), and, when NATTEN is
installed, against ``natten.na2d`` without bias.
"""
import math
import sys

import pytest
import torch
import torch.nn.functional as F

from mmdet.models.backbones import SwinTransformer

from projects.oneformer.models.backbones import DiNAT, InfMaskSwinTransformer
from tests.test_models.tiny_oneformer import SWIN, ConvNeXt
from projects.oneformer.models.backbones.dinat import (
    NATTEN_INSTALL, NeighborhoodAttention2D, neighborhood_attention_2d)

try:
    import natten
    HAS_NATTEN = hasattr(natten, 'na2d')
except ImportError:
    HAS_NATTEN = False
NO_NATTEN = 'NATTEN (>= 0.20, natten.na2d) is not installed'


def _window_start(i, length, kernel, dilation):
    """NATTEN 0.14 ``get_window_start``."""
    half = kernel // 2
    if dilation <= 1:
        return max(i - half, 0) + (i + half >= length) * (length - i - half -
                                                           1)
    if i - half * dilation < 0:
        return i % dilation
    if i + half * dilation >= length:
        imodd = i % dilation
        a = (length // dilation) * dilation
        b = length - a
        if imodd < b:
            return length - b + imodd - 2 * half * dilation
        return a + imodd - kernel * dilation
    return i - half * dilation


def _bias_start(i, length, kernel, dilation):
    """NATTEN 0.14 ``get_pb_start``."""
    half = kernel // 2
    if dilation <= 1:
        return half + (i < half) * (half - i) + (i + half >= length) * (
            length - i - 1 - half)
    if i - half * dilation < 0:
        return kernel - 1 - i // dilation
    if i + half * dilation >= length:
        return (length - i - 1) // dilation
    return half


def reference_na2d(q, k, v, rpb, kernel, dilation):
    """Loop over every (batch, head, query): softmax over the k*k dilated
    neighbours of ``q . k * scale + rpb``."""
    batch, heads, height, width, dim = q.shape
    out = torch.zeros_like(q)
    scale = dim**-0.5
    for y in range(height):
        ys = _window_start(y, height, kernel, dilation)
        pby = _bias_start(y, height, kernel, dilation)
        for x in range(width):
            xs = _window_start(x, width, kernel, dilation)
            pbx = _bias_start(x, width, kernel, dilation)
            for b in range(batch):
                for h in range(heads):
                    logits, values = [], []
                    for ky in range(kernel):
                        for kx in range(kernel):
                            yy, xx = ys + ky * dilation, xs + kx * dilation
                            logit = (q[b, h, y, x] * k[b, h, yy, xx]).sum()
                            logits.append(logit * scale +
                                          rpb[h, pby + ky, pbx + kx])
                            values.append(v[b, h, yy, xx])
                    weights = torch.stack(logits).softmax(0)
                    out[b, h, y, x] = (weights[:, None] *
                                       torch.stack(values)).sum(0)
    return out


@pytest.mark.parametrize('size,kernel,dilation', [((7, 9), 3, 1),
                                                  ((10, 11), 3, 3),
                                                  ((11, 12), 5, 2),
                                                  ((8, 8), 3, 2)])
def test_na_with_rpb_matches_loop_reference(size, kernel, dilation):
    q, k, v = torch.randn(3, 2, 2, *size, 4).unbind(0)
    rpb = torch.randn(2, 2 * kernel - 1, 2 * kernel - 1)
    ours = neighborhood_attention_2d(q, k, v, kernel, dilation, rpb)
    ref = reference_na2d(q, k, v, rpb, kernel, dilation)
    assert (ours - ref).abs().max() < 1e-5


@pytest.mark.skipif(not HAS_NATTEN, reason=NO_NATTEN)
def test_na_without_bias_matches_natten():
    q, k, v = torch.randn(3, 1, 2, 14, 13, 8).unbind(0)
    ours = neighborhood_attention_2d(q, k, v, 5, 2)
    ref = natten.na2d(*(t.permute(0, 2, 3, 1, 4) for t in (q, k, v)),
                      kernel_size=5, dilation=2)
    assert (ours - ref.permute(0, 3, 1, 2, 4)).abs().max() < 1e-5


def test_attention_pads_small_maps_like_natten_014():
    """A map smaller than kernel*dilation is zero-padded bottom/right before
    the qkv projection, attended, and cropped."""
    attn = NeighborhoodAttention2D(8, 2, kernel_size=3, dilation=2).eval()
    x = torch.randn(1, 4, 5, 8)
    padded = F.pad(x, (0, 0, 0, 1, 0, 2))  # to 6 x 6
    q, k, v = attn.qkv(padded).reshape(1, 6, 6, 3, 2, 4).permute(
        3, 0, 4, 1, 2, 5)
    ref = reference_na2d(q, k, v, attn.rpb, 3, 2).permute(0, 2, 3, 1, 4)
    ref = attn.proj(ref.reshape(1, 6, 6, 8)[:, :4, :5])
    with torch.no_grad():
        assert (attn(x) - ref).abs().max() < 1e-5


def tiny_dinat(**kwargs):
    cfg = dict(
        embed_dim=16,
        depths=(1, 2, 2, 1),
        num_heads=(1, 2, 2, 4),
        kernel_size=3,
        dilations=[[1], [1, 3], [2, 1], [1]],
        mlp_ratio=2.,
        drop_path_rate=0.1)
    cfg.update(kwargs)
    return DiNAT(**cfg)


def test_dinat_shapes_and_output_norms():
    model = tiny_dinat().eval()
    keys = model.state_dict().keys()
    for i in range(4):
        assert f'norm{i}.weight' in keys
    with torch.no_grad():
        outs = model(torch.randn(2, 3, 64, 96))
        assert [o.shape for o in outs] == [(2, 16 * 2**i, 16 >> i, 24 >> i)
                                           for i in range(4)]
        # every output goes through its own LayerNorm
        for i in range(4):
            norm = getattr(model, f'norm{i}')
            norm.weight.zero_()
            norm.bias.fill_(i + 0.5)
        outs = model(torch.randn(1, 3, 64, 96))
    for i, out in enumerate(outs):
        assert torch.all(out == i + 0.5)


def test_dinat_frozen_stages_and_checkpointing():
    model = tiny_dinat(frozen_stages=1, with_cp=True)
    model.train()
    assert not model.patch_embed.training
    assert not any(p.requires_grad for p in model.levels[0].parameters())
    assert all(p.requires_grad for p in model.levels[1].parameters())
    sum(o.sum() for o in model(torch.randn(1, 3, 32, 32))).backward()
    assert model.levels[1].blocks[0].attn.rpb.grad is not None


def test_dinat_natten_backend_needs_natten(monkeypatch):
    """Without NATTEN, the 'natten' backend fails with one line that says
    how to install it; the default backend does not need NATTEN."""
    monkeypatch.setitem(sys.modules, 'natten', None)
    with pytest.raises(ImportError) as err:
        tiny_dinat(backend='natten', rel_pos_bias=False)
    message = str(err.value)
    assert '\n' not in message and NATTEN_INSTALL in message
    assert message.startswith('DiNAT ')
    tiny_dinat()


def test_dinat_natten_backend_rejects_rpb():
    with pytest.raises(ValueError, match='relative positional bias'):
        tiny_dinat(backend='natten')


@pytest.mark.skipif(not HAS_NATTEN, reason=NO_NATTEN)
def test_dinat_natten_backend_matches_torch_without_bias():
    torch_model = tiny_dinat(rel_pos_bias=False).eval()
    natten_model = tiny_dinat(rel_pos_bias=False, backend='natten').eval()
    natten_model.load_state_dict(torch_model.state_dict())
    images = torch.randn(1, 3, 64, 64)
    with torch.no_grad():
        for a, b in zip(torch_model(images), natten_model(images)):
            assert (a - b).abs().max() < 1e-4


def test_dinat_loads_imagenet_layout():
    """SHI-Labs' ImageNet checkpoints share our names; they only add the
    classifier (``norm``, ``head``) and lack the output norms."""
    model = tiny_dinat()
    state = {
        k: v
        for k, v in model.state_dict().items() if not k.startswith('norm')
    }
    state.update({
        'norm.weight': torch.ones(128),
        'norm.bias': torch.zeros(128),
        'head.weight': torch.zeros(10, 128),
        'head.bias': torch.zeros(10)
    })
    result = model.load_state_dict(state, strict=False)
    assert sorted(result.unexpected_keys) == [
        'head.bias', 'head.weight', 'norm.bias', 'norm.weight'
    ]
    assert sorted(result.missing_keys) == sorted(
        f'norm{i}.{p}' for i in range(4) for p in ('weight', 'bias'))


def _ln_channels_first(x, weight, bias, eps=1e-6):
    """The released ConvNeXt's channels_first LayerNorm, written out."""
    mean = x.mean(1, keepdim=True)
    var = (x - mean).pow(2).mean(1, keepdim=True)
    x = (x - mean) / torch.sqrt(var + eps)
    return weight[:, None, None] * x + bias[:, None, None]


def released_convnext_forward(sd, x, depths):
    """The released D2ConvNeXt forward on a released-layout state dict."""
    outs = []
    for i, depth in enumerate(depths):
        p = f'backbone.downsample_layers.{i}.'
        if i == 0:
            x = F.conv2d(x, sd[p + '0.weight'], sd[p + '0.bias'], stride=4)
            x = _ln_channels_first(x, sd[p + '1.weight'], sd[p + '1.bias'])
        else:
            x = _ln_channels_first(x, sd[p + '0.weight'], sd[p + '0.bias'])
            x = F.conv2d(x, sd[p + '1.weight'], sd[p + '1.bias'], stride=2)
        for j in range(depth):
            b = f'backbone.stages.{i}.{j}.'
            y = F.conv2d(
                x,
                sd[b + 'dwconv.weight'],
                sd[b + 'dwconv.bias'],
                padding=3,
                groups=x.shape[1]).permute(0, 2, 3, 1)
            y = F.layer_norm(y, y.shape[-1:], sd[b + 'norm.weight'],
                             sd[b + 'norm.bias'], 1e-6)
            y = F.gelu(F.linear(y, sd[b + 'pwconv1.weight'],
                                sd[b + 'pwconv1.bias']))
            y = F.linear(y, sd[b + 'pwconv2.weight'], sd[b + 'pwconv2.bias'])
            x = x + (sd[b + 'gamma'] * y).permute(0, 3, 1, 2)
        outs.append(
            _ln_channels_first(x, sd[f'backbone.norm{i}.weight'],
                               sd[f'backbone.norm{i}.bias']))
    return outs


TINY_CONVNEXT = dict(depths=[1, 1, 2, 1], channels=[8, 16, 32, 64])


def test_convnext_matches_released_math():
    from tests.test_tools.test_backbone_converters import (
        released_convnext_state_dict)
    model = ConvNeXt(
        arch=TINY_CONVNEXT, layer_scale_init_value=1.0, drop_path_rate=0.4)
    model.eval()  # mmpretrain's train() returns None
    for p in model.parameters():  # non-trivial norms and layer scales
        p.data.normal_(0, 0.3)
    released = released_convnext_state_dict(model.state_dict())
    images = torch.randn(2, 3, 64, 96)
    with torch.no_grad():
        outs = model(images)
        ref = released_convnext_forward(released, images,
                                        TINY_CONVNEXT['depths'])
    for i, (a, b) in enumerate(zip(outs, ref)):
        assert a.shape == (2, 8 * 2**i, 16 >> i, 24 >> i)
        assert (a - b).abs().max() < 1e-4


def test_convnext_drop_path_and_layer_scale():
    model = ConvNeXt(arch=TINY_CONVNEXT, drop_path_rate=0.4,
                     layer_scale_init_value=1.0)
    blocks = [b for stage in model.stages for b in stage]
    rates = [getattr(b.drop_path, 'drop_prob', 0.) for b in blocks]
    assert rates == pytest.approx(torch.linspace(0, 0.4, 5).tolist())
    assert all(torch.all(b.gamma == 1.0) for b in blocks)
    assert math.isclose(model.norm0.eps, 1e-6)


def test_pretrained_init_cfg_loads_imagenet_layouts(tmp_path):
    """``init_cfg=dict(type='Pretrained', ...)`` loads SHI-Labs' plain DiNAT
    state dict as is and mmpretrain's ConvNeXt with ``prefix='backbone.'``."""
    dinat = tiny_dinat()
    state = {k: v + 1 for k, v in dinat.state_dict().items()}
    torch.save(state, tmp_path / 'dinat.pth')
    dinat = tiny_dinat(
        init_cfg=dict(type='Pretrained', checkpoint=str(tmp_path / 'dinat.pth')))
    dinat.init_weights()
    assert dinat.levels[1].blocks[1].attn.rpb.equal(
        state['levels.1.blocks.1.attn.rpb'])
    convnext = ConvNeXt(arch=TINY_CONVNEXT)
    state = {'backbone.' + k: v + 1 for k, v in convnext.state_dict().items()}
    torch.save({'state_dict': state}, tmp_path / 'convnext.pth')
    convnext = ConvNeXt(
        arch=TINY_CONVNEXT,
        init_cfg=dict(
            type='Pretrained',
            checkpoint=str(tmp_path / 'convnext.pth'),
            prefix='backbone.'))
    convnext.init_weights()
    assert convnext.stages[2][1].gamma.equal(state['backbone.stages.2.1.gamma'])


#: the smallest normal fp32: a non-zero magnitude below it is subnormal
SMALLEST_NORMAL = torch.finfo(torch.float32).tiny


@pytest.mark.parametrize('bias_std', [0., 0.1])
def test_inf_mask_swin_is_mmdets_swin_without_subnormal_weights(bias_std):
    """The same outputs and gradients as mmdet's ``SwinTransformer`` with the
    same state dict, bit for bit, on an image whose stages are padded and
    shifted; mmdet's shifted-window softmax gives its masked pairs subnormal
    weights, the -inf mask gives them 0. ``bias_std`` 0 is mmdet's initial
    zero biases, under which padding rows' attention outputs are subnormal
    too."""
    torch.manual_seed(0)
    mmdet_swin = SwinTransformer(**SWIN, drop_path_rate=0.)
    mmdet_swin.init_weights()
    with torch.no_grad():
        for name, param in mmdet_swin.named_parameters():
            if name.endswith('bias') and bias_std:
                param.normal_(0, bias_std)
    ours = InfMaskSwinTransformer(**SWIN, drop_path_rate=0.)
    assert ours.state_dict().keys() == mmdet_swin.state_dict().keys()
    ours.load_state_dict(mmdet_swin.state_dict(), strict=True)
    weights = {}

    def keep_weights(key):
        def hook(module, inputs, output):
            weights[key] = output.detach()
        return hook

    for tag, model in (('mmdet', mmdet_swin), ('ours', ours)):
        for name, module in model.named_modules():
            if name.endswith('w_msa.softmax'):
                module.register_forward_hook(keep_weights((tag, name)))
    images = torch.randn(2, 3, 44, 52)  # stage sizes 11x13 ... 2x2: padded
    outs = {}
    for tag, model in (('mmdet', mmdet_swin), ('ours', ours)):
        model.zero_grad()
        feats = model(images)
        sum(f.pow(2).mean() for f in feats).backward()
        outs[tag] = feats, [p.grad.clone() for p in model.parameters()]
    for a, b in zip(outs['mmdet'][0], outs['ours'][0]):
        assert torch.equal(a, b)
    for a, b in zip(outs['mmdet'][1], outs['ours'][1]):
        assert torch.equal(a, b)
    shifted = [key[1] for key in weights
               if key[0] == 'mmdet' and '.blocks.1.' in key[1]]
    assert len(shifted) == 4
    for name in shifted:
        theirs, mine = weights['mmdet', name], weights['ours', name]
        subnormal = (theirs > 0) & (theirs < SMALLEST_NORMAL)
        assert subnormal.any(), name
        assert (mine[subnormal] == 0).all()
        assert not ((mine > 0) & (mine < SMALLEST_NORMAL)).any()
        assert torch.equal(theirs[~subnormal], mine[~subnormal])
