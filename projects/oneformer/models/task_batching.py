"""Several task tokens per image in one decoder pass.

Each (image, task) pair has its own N queries, but all tasks of an image attend to the
same memory (pixel-decoder features). Cross-attention treats every query independently,
so the T*N queries of an image's T tasks can attend to ONE copy of its memory at once:
the memory's key/value projections are computed once per image instead of once per
task, with the same result for every query. Self-attention mixes queries and stays per
(image, task) pair. Pairs are ordered image-major: pair b * T + t is task t of image b.
"""
from torch import Tensor, nn


def group_tasks(x: Tensor, num_tasks: int) -> Tensor:
    """Pairs -> images: [B*T, Q, ...] -> [B, T*Q, ...] (a view)."""
    return x.reshape(x.shape[0] // num_tasks, num_tasks * x.shape[1], *x.shape[2:])


def ungroup_tasks(x: Tensor, num_tasks: int) -> Tensor:
    """Images -> pairs: [B, T*Q, ...] -> [B*T, Q, ...] (a view)."""
    return x.reshape(x.shape[0] * num_tasks, x.shape[1] // num_tasks, *x.shape[2:])


def cross_attend(attn: nn.Module, query: Tensor, query_pos: Tensor, num_tasks: int,
                 **kwargs) -> Tensor:
    """mmcv ``MultiheadAttention`` of pair queries [B*T, Q, C] (positions likewise) on
    per-image memory (``key``/``value``/``key_pos`` [B, L, C] in ``kwargs``)."""
    out = attn(query=group_tasks(query, num_tasks),
               query_pos=group_tasks(query_pos, num_tasks), **kwargs)
    return ungroup_tasks(out, num_tasks)
