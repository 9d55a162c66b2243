"""Multi-head attention with attention dropout, for training on CPU.

torch has no fused CPU kernel for attention with dropout. Its unfused path
writes the [B, heads, Q, L] scores, probabilities, dropout mask and dropped
probabilities to memory and keeps three of them for backward; for the query
initialiser's 149 queries on 16384 keys each is 156 MB per layer at 512x512,
batch 2, and every pass over them runs at memory speed.

:func:`dropout_attention` computes the same math (in-projections, scaled dot
product, softmax, dropout, weighted sum) as one autograd function that walks
the keys in blocks of ``KEY_BLOCK``: each block's scores stay in cache, the
softmax is accumulated online (running max and sum, as in flash attention)
and only the inputs, the output, the log-sum-exp per query and the mask, one
bit per probability, are kept for backward, which recomputes the projections
and each block's probabilities. The mask is drawn once per call in
``MASK_CHUNKS`` parts, each from its own generator seeded from the seed, on a
thread pool, so it depends on the seed only, not on the thread count.
"""
import math
import os
from concurrent.futures import ThreadPoolExecutor
from typing import Optional

import numpy as np
import torch
import torch.nn.functional as F
from torch import Tensor

#: parts of a dropout mask drawn in parallel (fixed: the mask of a seed is
#: the same on every machine)
MASK_CHUNKS = 8
#: keys per block: a block's [heads, Q, KEY_BLOCK] scores fit in cache
KEY_BLOCK = 2048
#: mask elements drawn per piece (their random words stay in cache)
_DRAW_PIECE = 1 << 16
_pool: Optional[ThreadPoolExecutor] = None
#: row b: the 8 mask elements (0. or 1.) of byte value b
_UNPACKED = (torch.arange(256)[:, None] >> torch.arange(8)).bitwise_and_(
    1).float()


def _forget_pool() -> None:
    global _pool
    _pool = None


# a forked child has none of the parent's pool threads: it makes its own
os.register_at_fork(after_in_child=_forget_pool)


def keep_mask(numel: int, keep: float, seed: int) -> Tensor:
    """Packed uint8 [ceil(numel / 8)], bit j of byte i element 8 i + j
    (:func:`unpack_mask`): each element 1 with probability ``keep``, the
    same for the same ``seed``.

    Part i of the ``MASK_CHUNKS`` parts compares numpy's PCG64 (seeded
    ``seed + i``) 32-bit outputs with round(keep * 2**32): 1 where one is
    below it. They are the halves of its raw 64-bit words, low half first
    (the order of numpy's own 32-bit draws on a little-endian machine)."""
    global _pool
    if _pool is None:
        _pool = ThreadPoolExecutor(min(MASK_CHUNKS, torch.get_num_threads()))
    mask = torch.empty(numel, dtype=torch.bool)
    parts = mask.chunk(MASK_CHUNKS)
    threshold = np.uint32(min(round(keep * 2**32), 2**32 - 1))

    def draw(i: int) -> None:
        # Raw PCG64 words compared as integers take a third of the time of
        # torch's uniform floats (which cost ~4 ns each); the draw goes in
        # cache-sized pieces. numpy only: a parallel torch op here would
        # give this thread an OpenMP team of its own, and with more OpenMP
        # threads than cores libgomp stops its workers spinning between
        # parallel regions, which slows every later op of the process.
        bits, out = np.random.PCG64(seed + i), parts[i].numpy()
        for start in range(0, len(out), _DRAW_PIECE):
            piece = out[start:start + _DRAW_PIECE]
            words = bits.random_raw((len(piece) + 1) // 2)
            np.less(words.view(np.uint32)[:len(piece)], threshold, out=piece)

    list(_pool.map(draw, range(len(parts))))
    return torch.from_numpy(np.packbits(mask.numpy(), bitorder='little'))


def unpack_mask(packed: Tensor, numel: int, dtype=torch.uint8) -> Tensor:
    """The first ``numel`` elements (0 or 1, ``dtype``) of a packed mask."""
    return torch.from_numpy(np.unpackbits(
        packed.numpy(), count=numel, bitorder='little')).to(dtype)


def _blocks(length: int):
    for start in range(0, length, KEY_BLOCK):
        yield start, min(start + KEY_BLOCK, length)


def _block_range(image: int, heads: int, queries: int, keys: int,
                 start: int, end: int):
    """First element and length of a block of image ``image``'s mask in the
    flat mask: the images' masks lie one after another, each the blocks of
    [heads, Q, end - start] one after another."""
    first = heads * queries * (image * keys + start)
    return first, heads * queries * (end - start)


def _block_buffer(like: Tensor, heads: int, queries: int,
                  keys: int) -> Tensor:
    """Buffer for :func:`_float_block_mask`: a block's bits start and end
    inside a byte, so its whole bytes hold up to 14 elements more."""
    return like.new_empty(heads * queries * min(KEY_BLOCK, keys) + 14)


def _score_buffer(like: Tensor, heads: int, queries: int,
                  keys: int) -> Tensor:
    """Buffer for one block's [heads, Q, block] scores (:func:`_scores`),
    reused by every block: a fresh block-sized tensor (10 MB for the query
    initialiser) would be paged in again at each allocation."""
    return like.new_empty(heads * queries * min(KEY_BLOCK, keys))


def _scores(buffer: Tensor, a: Tensor, b: Tensor) -> Tensor:
    """``torch.bmm(a, b)`` ([heads, Q, d] x [heads, d, n]) written into
    ``buffer`` (:func:`_score_buffer`)."""
    heads, queries, size = a.shape[0], a.shape[1], b.shape[2]
    return torch.bmm(a, b, out=buffer[:heads * queries * size].view(
        heads, queries, size))


def _float_block_mask(buffer: Tensor, packed: Tensor, heads: int,
                      queries: int, image: int, keys: int, start: int,
                      end: int) -> Tensor:
    """[heads, Q, end - start] floats of a block of a packed mask, unpacked
    into ``buffer`` (:func:`_block_buffer`) by one row gather of 8 floats
    per byte."""
    first, numel = _block_range(image, heads, queries, keys, start, end)
    lo, hi = first // 8, -(-(first + numel) // 8)
    rows = buffer[:(hi - lo) * 8].view(-1, 8)
    torch.index_select(_UNPACKED.to(buffer.dtype), 0, packed[lo:hi].int(),
                       out=rows)
    return buffer[first % 8:first % 8 + numel].view(heads, queries, -1)


def dropout_noise(batch: int, heads: int, queries: int, keys: int,
                  drop: float, seed: int) -> Tensor:
    """[B, heads, Q, L] dropout noise (0, or 1 / (1 - ``drop``)) that
    :func:`dropout_attention` applies to the probabilities for ``seed``."""
    numel = batch * heads * queries * keys
    kept = unpack_mask(keep_mask(numel, 1 - drop, seed), numel,
                       torch.float32)

    def block(image, start, end):
        first, size = _block_range(image, heads, queries, keys, start, end)
        return kept[first:first + size].view(heads, queries, -1)

    return torch.cat([
        torch.stack([block(i, *b) for i in range(batch)])
        for b in _blocks(keys)
    ], -1).div_(1 - drop)


def _split_heads(x: Tensor, heads: int) -> Tensor:
    """[B, n, C] -> [B, heads, n, C / heads] (a view)."""
    return x.unflatten(-1, (heads, -1)).transpose(1, 2)


def _project(query, key, value, weight, bias, heads):
    """Per-head in-projections: q [B, heads, Q, d] (contiguous, times the
    softmax scale), k and v [B, heads, L, d] views of [B, L, C]."""
    biases = (None, ) * 3 if bias is None else bias.chunk(3)
    weights = weight.chunk(3)
    scale = 1 / math.sqrt(query.shape[-1] // heads)
    q = F.linear(query, weights[0] * scale,
                 None if bias is None else biases[0] * scale)
    k, v = (F.linear(x, w, b) for x, w, b in zip((key, value), weights[1:],
                                                  biases[1:]))
    return (_split_heads(q, heads).contiguous(), _split_heads(k, heads),
            _split_heads(v, heads), scale)


class _DropoutAttention(torch.autograd.Function):

    @staticmethod
    def forward(ctx, query, key, value, weight, bias, heads, drop, seed):
        # a value broadcast over the batch (the query initialiser's sine
        # encoding) is projected once
        shared = value.shape[0] > 1 and value.stride(0) == 0 and \
            not ctx.needs_input_grad[2]
        key = key.contiguous()  # F.linear would copy it at every use
        value = (value[:1] if shared else value).contiguous()
        q, k, v, _ = _project(query, key, value, weight, bias, heads)
        batch, _, queries, _ = q.shape
        length = k.shape[2]
        keep = 1 - drop
        kept = keep_mask(batch * heads * queries * length, keep, seed)
        out = torch.zeros_like(q)
        lse = q.new_empty(q.shape[:-1] + (1, ))
        mask = _block_buffer(q, heads, queries, length)
        buffer = _score_buffer(q, heads, queries, length)
        for i in range(batch):
            v_i = v[0 if shared else i]
            run_max = q.new_full((heads, queries, 1), -math.inf)
            run_sum = q.new_zeros((heads, queries, 1))
            for start, end in _blocks(length):
                scores = _scores(buffer, q[i],
                                 k[i, :, start:end].transpose(1, 2))
                new_max = torch.maximum(run_max,
                                        scores.amax(-1, keepdim=True))
                rescale = run_max.sub_(new_max).exp_()
                probs = scores.sub_(new_max).exp_()  # not yet normalised
                run_sum.mul_(rescale).add_(probs.sum(-1, keepdim=True))
                block = _float_block_mask(mask, kept, heads, queries, i,
                                          length, start, end)
                out[i].mul_(rescale).baddbmm_(probs.mul_(block),
                                              v_i[:, start:end])
                run_max = new_max
            out[i].div_(run_sum * keep)
            torch.add(run_max, run_sum.log_(), out=lse[i])
        ctx.save_for_backward(query, key, value, weight, bias, kept, out,
                              lse)
        ctx.config = heads, drop, shared
        return out.transpose(1, 2).flatten(2)

    @staticmethod
    def backward(ctx, grad_out):
        query, key, value, weight, bias, kept, out, lse = ctx.saved_tensors
        heads, drop, shared = ctx.config
        keep = 1 - drop
        q, k, v, scale = _project(query, key, value, weight, bias, heads)
        batch, _, queries, _ = q.shape
        length = k.shape[2]
        grad_out = _split_heads(grad_out, heads)
        # softmax backward's sum over the keys of grad x probs, per query
        delta = (grad_out * out).sum(-1, keepdim=True)
        grad_out = grad_out.div(keep).contiguous()
        grad_q = torch.zeros_like(q)
        grad_k = key.new_empty(key.shape)
        # shared: the sum over the images of the value gradients
        grad_v = value.new_zeros(value.shape) if shared else \
            value.new_empty(value.shape)
        grad_k_heads = _split_heads(grad_k, heads)
        grad_v_heads = _split_heads(grad_v, heads)
        mask = _block_buffer(q, heads, queries, length)
        buffers = [_score_buffer(q, heads, queries, length) for _ in range(3)]
        for i in range(batch):
            q_i, grad_i = q[i], grad_out[i]
            v_i = v[0 if shared else i]
            grad_v_i = grad_v_heads[0 if shared else i]
            for start, end in _blocks(length):
                k_j = k[i, :, start:end]
                probs = _scores(buffers[0], q_i, k_j.transpose(1, 2)).sub_(
                    lse[i]).exp_()
                block = _float_block_mask(mask, kept, heads, queries, i,
                                          length, start, end)
                dropped = torch.mul(
                    probs, block,
                    out=buffers[1][:probs.numel()].view_as(probs))
                grad_v_block = torch.bmm(dropped.transpose(1, 2), grad_i)
                if shared:
                    grad_v_i[:, start:end] += grad_v_block
                else:
                    grad_v_i[:, start:end] = grad_v_block
                grad_scores = _scores(
                    buffers[2], grad_i,
                    v_i[:, start:end].transpose(1, 2)).mul_(block).sub_(
                        delta[i]).mul_(probs)
                grad_q[i].baddbmm_(grad_scores, k_j)
                grad_k_heads[i, :, start:end] = torch.bmm(
                    grad_scores.transpose(1, 2), q_i)
        grad_q = grad_q.mul_(scale).transpose(1, 2).flatten(2)  # [B, Q, C]
        inputs, grads = (query, key, value), (grad_q, grad_k, grad_v)
        grad_inputs = [
            torch.matmul(g, w) if needed else None
            for g, w, needed in zip(grads, weight.chunk(3),
                                    ctx.needs_input_grad)
        ]
        grad_weight = torch.cat([
            g.flatten(0, 1).t() @ x.flatten(0, 1)
            for x, g in zip(inputs, grads)
        ])
        grad_bias = None if bias is None else torch.cat(
            [g.sum((0, 1)) for g in grads])
        return (*grad_inputs, grad_weight, grad_bias, None, None, None)


def dropout_attention(query: Tensor, key: Tensor, value: Tensor,
                      in_proj_weight: Tensor, in_proj_bias: Optional[Tensor],
                      heads: int, drop: float,
                      seed: Optional[int] = None) -> Tensor:
    """Attention of ``nn.MultiheadAttention``'s in-projections with dropout
    ``drop`` on the probabilities, before the out-projection.

    Args:
        query (Tensor): [B, Q, C]; ``key`` / ``value`` [B, L, C] (positions
            already added).
        in_proj_weight (Tensor): [3C, C]; ``in_proj_bias`` [3C] or None.
        heads (int): Attention heads.
        drop (float): Dropout probability of the attention weights.
        seed (int, optional): Seed of the dropout mask
            (:func:`dropout_noise`); by default drawn from torch's default
            generator (reproducible under ``torch.manual_seed``).

    Returns:
        Tensor: [B, Q, C], the heads concatenated.
    """
    if seed is None:
        seed = int(torch.randint(2**62, ()))
    return _DropoutAttention.apply(query, key, value, in_proj_weight,
                                   in_proj_bias, heads, drop, seed)
