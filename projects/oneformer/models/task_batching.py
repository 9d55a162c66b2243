"""Several task tokens per image in one decoder pass.

Each (image, task) pair has its own N queries, but all tasks of an image attend to the
same memory (pixel-decoder features). Cross-attention treats every query independently,
so the T*N queries of an image's T tasks can attend to ONE copy of its memory at once:
the memory's key/value projections are computed once per image instead of once per
task, with the same result for every query. Self-attention mixes queries and stays per
(image, task) pair. Pairs are ordered image-major: pair b * T + t is task t of image b.
"""
from typing import Optional

from torch import Tensor, nn


def group_tasks(x: Tensor, num_tasks: int) -> Tensor:
    """Pairs -> images: [B*T, Q, ...] -> [B, T*Q, ...] (a view)."""
    return x.reshape(x.shape[0] // num_tasks, num_tasks * x.shape[1], *x.shape[2:])


def ungroup_tasks(x: Tensor, num_tasks: int) -> Tensor:
    """Images -> pairs: [B, T*Q, ...] -> [B*T, Q, ...] (a view)."""
    return x.reshape(x.shape[0] * num_tasks, x.shape[1] // num_tasks, *x.shape[2:])


def attend(attn: nn.Module,
           query: Tensor,
           key: Tensor,
           value: Tensor,
           query_pos: Optional[Tensor] = None,
           key_pos: Optional[Tensor] = None,
           attn_mask: Optional[Tensor] = None) -> Tensor:
    """mmcv ``MultiheadAttention`` (batch first) without the attention weights.

    The same math as ``attn(query=..., ...)``: positions added to queries and
    keys, residual, dropout. mmcv's forward always asks
    ``nn.MultiheadAttention`` for the head-averaged weights, which materialises
    the [B, heads, Q, L] probabilities; without them torch runs its fused
    scaled-dot-product kernel (the query initialiser attends to all H/4 x W/4
    positions, so this is most of its cost).

    Args:
        query (Tensor): [B, Q, C]; ``key``/``value`` [B, L, C].
        attn_mask (Tensor, optional): Bool, True = blocked, [B*heads, Q, L].
    """
    if query_pos is not None:
        query_in = query + query_pos
    else:
        query_in = query
    if key_pos is not None:
        key = key + key_pos
    out = attn.attn(query_in.transpose(0, 1), key.transpose(0, 1),
                    value.transpose(0, 1), attn_mask=attn_mask,
                    need_weights=False)[0]
    return query + attn.dropout_layer(attn.proj_drop(out.transpose(0, 1)))


def self_attend(attn: nn.Module, query: Tensor, query_pos: Tensor) -> Tensor:
    """Self-attention of each (image, task) pair's queries [B*T, Q, C]."""
    return attend(attn, query, query, query, query_pos, query_pos)


def cross_attend(attn: nn.Module, query: Tensor, query_pos: Tensor, num_tasks: int,
                 key: Tensor, value: Tensor, key_pos: Tensor,
                 attn_mask: Optional[Tensor] = None) -> Tensor:
    """Attention of pair queries [B*T, Q, C] (positions likewise) on per-image
    memory (``key``/``value``/``key_pos`` [B, L, C]); ``attn_mask`` is per image
    in the grouped layout [B*heads, T*Q, L]."""
    out = attend(attn, group_tasks(query, num_tasks), key, value,
                 group_tasks(query_pos, num_tasks), key_pos, attn_mask)
    return ungroup_tasks(out, num_tasks)
