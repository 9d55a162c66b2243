"""Multi-head attention with attention dropout, for training on CPU.

torch has no fused CPU kernel for attention with dropout. Its unfused path
keeps the probabilities, the dropout mask and the dropped probabilities
([B, heads, Q, L] each) for backward, and draws the mask with a serial
Bernoulli kernel (on CPUs without MKL's generator, one element at a time):
for the query initialiser's 149 queries on 16384 keys that draw was a sixth
of a training step's attention time.

:func:`dropout_attention` computes the same math (in-projections, scaled dot
product, softmax, dropout, weighted sum) as one autograd function that saves
only its inputs and a seed. Backward recomputes the projections, the
probabilities and the same dropout mask; the mask is drawn in
``MASK_CHUNKS`` parts, each from its own generator seeded from the seed, on
a thread pool, so it depends on the seed only, not on the thread count.
"""
import math
import os
from concurrent.futures import ThreadPoolExecutor
from typing import Optional

import torch
import torch.nn.functional as F
from torch import Tensor

#: parts of a dropout mask drawn in parallel (fixed: the mask of a seed is
#: the same on every machine)
MASK_CHUNKS = 8
_pool: Optional[ThreadPoolExecutor] = None


def _forget_pool() -> None:
    global _pool
    _pool = None


# a forked child has none of the parent's pool threads: it makes its own
os.register_at_fork(after_in_child=_forget_pool)


def dropout_noise(like: Tensor, keep: float, seed: int) -> Tensor:
    """Bernoulli(``keep``) mask divided by ``keep`` (torch's dropout noise)
    of the shape and dtype of ``like``, the same for the same ``seed``."""
    global _pool
    if _pool is None:
        _pool = ThreadPoolExecutor(min(MASK_CHUNKS, torch.get_num_threads()))
    noise = torch.empty_like(like, memory_format=torch.contiguous_format)
    parts = noise.view(-1).chunk(MASK_CHUNKS)

    def draw(i: int) -> None:
        # torch's CPU sampling is serial and releases the GIL: one thread
        # per part; uniform samples are faster to draw than Bernoulli ones
        parts[i].uniform_(generator=torch.Generator().manual_seed(seed + i))

    list(_pool.map(draw, range(len(parts))))
    return noise.lt_(keep).div_(keep)


def _project(x: Tensor, weight: Tensor, bias: Optional[Tensor],
             heads: int) -> Tensor:
    """[B, n, C] -> per-head [B, heads, n, C / heads], contiguous (the
    matmuls would copy a transposed view at every use)."""
    return F.linear(x, weight, bias).unflatten(-1, (heads, -1)).transpose(
        1, 2).contiguous()


class _DropoutAttention(torch.autograd.Function):

    @staticmethod
    def forward(ctx, query, key, value, weight, bias, heads, drop, seed):
        biases = (None, ) * 3 if bias is None else bias.chunk(3)
        q, k, v = (_project(x, w, b, heads) for x, w, b in zip(
            (query, key, value), weight.chunk(3), biases))
        scale = 1 / math.sqrt(q.shape[-1])
        probs = torch.matmul(q * scale, k.transpose(-2, -1)).softmax(-1)
        probs.mul_(dropout_noise(probs, 1 - drop, seed))
        ctx.save_for_backward(query, key, value, weight, bias)
        ctx.config = heads, drop, seed
        return torch.matmul(probs, v).transpose(1, 2).flatten(2)

    @staticmethod
    def backward(ctx, grad_out):
        query, key, value, weight, bias = ctx.saved_tensors
        heads, drop, seed = ctx.config
        inputs = (query, key, value)
        weights = weight.chunk(3)
        biases = (None, ) * 3 if bias is None else bias.chunk(3)
        q, k, v = (_project(x, w, b, heads)
                   for x, w, b in zip(inputs, weights, biases))
        scale = 1 / math.sqrt(q.shape[-1])
        q = q * scale
        probs = torch.matmul(q, k.transpose(-2, -1)).softmax(-1)
        noise = dropout_noise(probs, 1 - drop, seed)
        grad_out = grad_out.unflatten(-1, (heads, -1)).transpose(1, 2)
        grad_v = torch.matmul((probs * noise).transpose(-2, -1), grad_out)
        grad_probs = torch.matmul(grad_out, v.transpose(-2, -1)).mul_(noise)
        del noise
        grad_scores = torch._softmax_backward_data(grad_probs, probs, -1,
                                                   probs.dtype)
        del probs, grad_probs
        grad_q = torch.matmul(grad_scores, k).mul_(scale)
        grad_k = torch.matmul(grad_scores.transpose(-2, -1), q)
        del grad_scores
        grad_inputs, grad_weights, grad_biases = [], [], []
        for x, w, g in zip(inputs, weights, (grad_q, grad_k, grad_v)):
            g = g.transpose(1, 2).flatten(2)  # [B, n, C]
            grad_inputs.append(
                torch.matmul(g, w) if x.requires_grad else None)
            grad_weights.append(g.flatten(0, 1).t() @ x.flatten(0, 1))
            grad_biases.append(g.sum((0, 1)))
        return (*grad_inputs, torch.cat(grad_weights),
                None if bias is None else torch.cat(grad_biases), None, None,
                None)


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
        seed (int, optional): Seed of the dropout mask; by default drawn from
            torch's default generator (reproducible under
            ``torch.manual_seed``).

    Returns:
        Tensor: [B, Q, C], the heads concatenated.
    """
    if seed is None:
        seed = int(torch.randint(2**62, ()))
    return _DropoutAttention.apply(query, key, value, in_proj_weight,
                                   in_proj_bias, heads, drop, seed)
