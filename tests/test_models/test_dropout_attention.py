import math
import os
import subprocess
import sys

import numpy as np
import pytest
import torch
import torch.nn.functional as F

from projects.oneformer.models import dropout_attention as da
from projects.oneformer.models.transformer_decoder import \
    FusedMultiheadAttention
from tests.utils import REPO


def _reference(query, key, value, weight, bias, heads, noise):
    """nn.MultiheadAttention's math with the dropout ``noise`` on the
    probabilities, in plain autograd ops: [B, Q, C] before out_proj."""
    q, k, v = (F.linear(x, w, b).unflatten(-1, (heads, -1)).transpose(1, 2)
               for x, w, b in zip((query, key, value), weight.chunk(3),
                                  bias.chunk(3)))
    probs = (q @ k.transpose(-2, -1) / math.sqrt(q.shape[-1])).softmax(-1)
    return ((probs * noise) @ v).transpose(1, 2).flatten(2)


def test_gradients_are_those_of_the_forward(monkeypatch):
    """gradcheck (float64) with keys in blocks of 8, the last one short:
    backward's recomputation (projections, each block's probabilities, the
    seed's mask) gives the forward's true gradients."""
    monkeypatch.setattr(da, 'KEY_BLOCK', 8)
    inputs = [torch.randn(*s, dtype=torch.double, requires_grad=True)
              for s in ((2, 3, 8), (2, 19, 8), (2, 19, 8), (24, 8), (24, ))]
    assert torch.autograd.gradcheck(
        lambda *x: da.dropout_attention(*x, 2, 0.5, seed=3), inputs)


@pytest.mark.parametrize('block', [8, 2048])
def test_output_is_the_released_math_under_its_noise(monkeypatch, block):
    """The online softmax over key blocks equals softmax, dropout noise and
    weighted sum in plain ops, with the noise of the seed; and
    ``dropout_noise`` is torch's dropout noise: 0 with probability p, else
    1 / (1 - p)."""
    monkeypatch.setattr(da, 'KEY_BLOCK', block)
    torch.manual_seed(0)
    query, key, value = (torch.randn(2, n, 16) for n in (5, 45, 45))
    weight, bias = torch.randn(48, 16) / 4, torch.randn(48)
    noise = da.dropout_noise(2, 2, 5, 45, 0.5, seed=4)
    assert noise.shape == (2, 2, 5, 45)
    assert set(noise.unique().tolist()) == {0.0, 2.0}
    torch.testing.assert_close(
        da.dropout_attention(query, key, value, weight, bias, 2, 0.5, 4),
        _reference(query, key, value, weight, bias, 2, noise),
        rtol=0, atol=1e-5)


def test_a_value_broadcast_over_the_batch_is_projected_once(monkeypatch):
    """The query initialiser's values are one image's sine encoding
    broadcast over the batch: output and gradients equal those of the same
    values materialised per image (keys in blocks of 8)."""
    monkeypatch.setattr(da, 'KEY_BLOCK', 8)
    torch.manual_seed(0)
    query, key = (torch.randn(3, n, 16) for n in (5, 21))
    value = torch.randn(1, 21, 16).expand(3, -1, -1)
    weight, bias = torch.randn(48, 16) / 4, torch.randn(48)
    results = []
    for v in (value, value.contiguous()):
        x = [t.clone().requires_grad_() for t in (query, key, weight, bias)]
        out = da.dropout_attention(x[0], x[1], v, x[2], x[3], 2, 0.5, 7)
        out.pow(2).sum().backward()
        results.append([out] + [t.grad for t in x])
    # fp32 rounding: the shared values' gradient sums the images in another
    # order, and the weight gradients reach about 40 (ulp 4e-6)
    for a, b in zip(*results):
        torch.testing.assert_close(a, b, rtol=1.3e-6, atol=1e-5)


def test_mask_is_the_same_for_a_seed_on_any_thread_count():
    """The mask of a seed, whatever thread count drew it, one bit per
    element; about 1 - p of it kept; its parts draw different streams."""
    numel = 4 * 8 * 150 * 200
    packed = da.keep_mask(numel, 0.9, seed=5)
    assert packed.dtype == torch.uint8 and packed.shape == (numel // 8, )
    mask = da.unpack_mask(packed, numel)
    assert set(mask.unique().tolist()) == {0, 1}
    assert abs(mask.float().mean().item() - 0.9) < 3e-3
    pool = da._pool
    try:
        da._pool = da.ThreadPoolExecutor(1)
        assert da.keep_mask(numel, 0.9, seed=5).equal(packed)
    finally:
        da._pool = pool
    assert not da.keep_mask(numel, 0.9, seed=6).equal(packed)
    parts = mask.chunk(da.MASK_CHUNKS)
    assert not parts[0][:1000].equal(parts[1][:1000])
    # the draws: part i's uniform 32-bit integers from numpy's PCG64 seeded
    # seed + i, below 0.9 * 2**32 (11 elements: 6 parts, a padded last
    # byte; 8 parts of 2**16 + 1: a one-element last piece)
    for numel in (11, 8 << 16 | 8, 4 * 8 * 150 * 200):
        expected = torch.cat([
            torch.from_numpy(np.random.Generator(np.random.PCG64(
                5 + i)).integers(2**32, size=len(part), dtype=np.uint32)
                < 0.9 * 2**32)
            for i, part in enumerate(torch.empty(numel).chunk(da.MASK_CHUNKS))
        ])
        assert da.unpack_mask(da.keep_mask(numel, 0.9, seed=5),
                              numel).equal(expected.to(torch.uint8))


def test_fused_attention_trains_with_it_on_cpu():
    """FusedMultiheadAttention in training with attention dropout on CPU:
    the output and gradients of the released math under the mask of the
    seed it draws; nothing of [B, heads, Q, L] size is kept for backward,
    the mask one bit per element."""
    module = FusedMultiheadAttention(
        embed_dims=8, num_heads=2, attn_drop=0.5, batch_first=True).train()
    inputs = [torch.randn(2, n, 8) for n in (5, 40, 40, 5, 40)]
    attn = module.attn

    x = [t.clone().requires_grad_() for t in inputs]
    saved = []
    torch.manual_seed(1)
    with torch.autograd.graph.saved_tensors_hooks(
            lambda t: saved.append((t.numel(), t.dtype)) or t, lambda t: t):
        out = module(x[0], x[1], x[2], query_pos=x[3], key_pos=x[4])
    out.pow(2).sum().backward()
    assert max(n for n, _ in saved) < 2 * 2 * 5 * 40
    assert (2 * 2 * 5 * 40 // 8, torch.uint8) in saved

    torch.manual_seed(1)
    seed = int(torch.randint(2**62, ()))
    y = [t.clone().requires_grad_() for t in inputs]
    noise = da.dropout_noise(2, 2, 5, 40, 0.5, seed)
    expected = y[0] + attn.out_proj(_reference(
        y[0] + y[3], y[1] + y[4], y[2], attn.in_proj_weight,
        attn.in_proj_bias, 2, noise))
    grads = [p.grad.clone() for p in module.parameters()]
    module.zero_grad()
    expected.pow(2).sum().backward()
    torch.testing.assert_close(out, expected, rtol=0, atol=1e-6)
    for a, b in zip(x, y):
        torch.testing.assert_close(a.grad, b.grad, rtol=0, atol=1e-5)
    for a, p in zip(grads, module.parameters()):
        torch.testing.assert_close(a, p.grad, rtol=0, atol=1e-5)
    # the dropout is live: another draw gives another output
    torch.manual_seed(2)
    assert not module(*inputs[:3], query_pos=inputs[3],
                      key_pos=inputs[4]).equal(out)


def _mmcv_default_drop() -> float:
    """drop_prob of mmcv MultiheadAttention's default ``dropout_layer``."""
    from mmcv.cnn.bricks.transformer import MultiheadAttention
    return MultiheadAttention(embed_dims=8, num_heads=2).dropout_layer.p


def test_configs_leave_mmcvs_default_dropout_alone():
    """mmcv's deprecated ``dropout`` argument writes into the default
    ``dropout_layer`` dict of ``MultiheadAttention``, so one module built
    with it gave every later module of the process an output dropout. The
    project's MaskFormer and Panoptic SegFormer attention configs spell it
    out instead (the same modules), and FusedMultiheadAttention is immune."""
    from mmcv.cnn.bricks.transformer import MultiheadAttention
    from mmengine.config import Config

    from tests.utils import REPO
    assert _mmcv_default_drop() == 0
    maskformer = Config.fromfile(
        f'{REPO}/configs/maskformer/maskformer_r18_toy-panoptic.py')
    segformer = Config.fromfile(
        f'{REPO}/configs/panoptic_segformer/_base_/panoptic-segformer_r50.py')
    for cfg in (maskformer.attn,
                segformer.model.decoder.layer_cfg.self_attn_cfg):
        module = MultiheadAttention(**cfg)
        assert module.attn.dropout == 0.1 and module.dropout_layer.p == 0.1
    assert _mmcv_default_drop() == 0
    defaults = MultiheadAttention.__init__.__defaults__
    default_layer = next(d for d in defaults if isinstance(d, dict))
    try:
        MultiheadAttention(embed_dims=8, num_heads=2, dropout=0.1)
        assert _mmcv_default_drop() == 0.1  # mmcv's leak, still there
        fused = FusedMultiheadAttention(embed_dims=8, num_heads=2)
        assert fused.dropout_layer.p == 0
    finally:
        default_layer['drop_prob'] = 0.


def test_noise_in_a_forked_child():
    """A child forked after the pool started draws with a pool of its own
    (the parent's threads do not exist there) and the same mask."""
    import multiprocessing as mp
    numel = 2 * 4 * 10 * 30
    mask = da.keep_mask(numel, 0.9, seed=11)
    ctx = mp.get_context('fork')
    with ctx.Pool(1) as pool:
        child = pool.apply_async(_child_mask, (numel, 11)).get(timeout=60)
    assert child.equal(mask)


def _child_mask(numel, seed):
    return da.keep_mask(numel, 0.9, seed=seed)


_THREADS_SCRIPT = """
import os
import torch
from projects.oneformer.models import dropout_attention as da
torch.set_num_threads(2)
torch.ones(10**6).add_(1)  # the main thread's OpenMP team
before = len(os.listdir('/proc/self/task'))
da.keep_mask(2 * 10**6, 0.9, 0)
print(len(os.listdir('/proc/self/task')) - before)
"""


@pytest.mark.skipif(not os.path.isdir('/proc/self/task'), reason='Linux')
def test_mask_draw_starts_no_openmp_team_of_its_own():
    """The pool threads draw without parallel torch ops: a parallel op on a
    pool thread would give it an OpenMP team of its own, and with more
    OpenMP threads than cores libgomp stops its workers spinning between
    parallel regions, which slows every later op of the process. A fresh
    process on 2 threads gains the 2 pool threads and nothing else."""
    out = subprocess.run([sys.executable, '-c', _THREADS_SCRIPT], cwd=REPO,
                         capture_output=True, text=True, timeout=120,
                         env=dict(os.environ, PYTHONPATH=REPO))
    assert out.returncode == 0, out.stderr[-2000:]
    assert out.stdout.split()[-1] == '2'
