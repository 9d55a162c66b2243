"""OneFormer's transformer decoders, run on several task tokens per image.

Each (image, task) pair has its own N queries, but all tasks of an image attend
to the same memory (pixel-decoder features). Cross-attention treats every query
independently, so the T*N queries of an image's T tasks attend to ONE copy of
its memory at once: the memory's key/value projections are computed once per
image instead of once per task, with the same result for every query.
Self-attention mixes queries and stays per (image, task) pair. Pairs are
ordered image-major: pair b * T + t is task t of image b.

Two decoders use this: the masked-attention decoder (Mask2Former's layers:
cross-attn, self-attn, FFN) and the query initialiser's 2-layer DETR decoder
(self-attn, cross-attn, FFN), each layer post-normed. The layers are mmdet's,
with ``forward`` taking the task count and attention that skips the
head-averaged weights.
"""
from typing import Callable, List, Optional, Sequence, Tuple

import torch
import torch.nn.functional as F
from mmcv.cnn import build_norm_layer
from mmcv.cnn.bricks.transformer import FFN, MultiheadAttention
from torch import Tensor
from torch.nn import ModuleList
from torch.utils.checkpoint import checkpoint

from .dropout_attention import dropout_attention

from mmdet.models.layers import (DetrTransformerDecoder,
                                 DetrTransformerDecoderLayer,
                                 Mask2FormerTransformerDecoder,
                                 Mask2FormerTransformerDecoderLayer)


def group_tasks(x: Tensor, num_tasks: int) -> Tensor:
    """Pairs -> images: [B*T, Q, ...] -> [B, T*Q, ...] (a view)."""
    return x.reshape(x.shape[0] // num_tasks, num_tasks * x.shape[1],
                     *x.shape[2:])


def ungroup_tasks(x: Tensor, num_tasks: int) -> Tensor:
    """Images -> pairs: [B, T*Q, ...] -> [B*T, Q, ...] (a view)."""
    return x.reshape(x.shape[0] * num_tasks, x.shape[1] // num_tasks,
                     *x.shape[2:])


def unblock_full_rows(blocked: Tensor) -> Tensor:
    """Masked-attention mask [..., Q, L] (True = blocked) with the rows that
    block every key unblocked: such a query would attend to nothing."""
    return blocked & ~blocked.all(-1, keepdim=True)


def blocked_where_negative(logits: Tensor) -> Tensor:
    """``unblock_full_rows(logits < 0)`` of mask logits [..., Q, L]: one
    comparison against a per-row threshold, 0, or -inf for a row whose
    max is negative (it would block every key). The bool ``all`` over the
    rows and the two bool passes after it cost several times more on CPU.
    A NaN max keeps the threshold 0, as a NaN logit blocks no row."""
    top = logits.amax(-1, keepdim=True)
    return logits < torch.where(top < 0, float('-inf'), 0.).to(logits.dtype)


class FusedMultiheadAttention(MultiheadAttention):
    """mmcv ``MultiheadAttention`` (batch first) computed with torch's
    ``scaled_dot_product_attention``, without the attention weights.

    The same math and parameters (``attn``'s in- and out-projections):
    positions added to queries and keys, residual, dropout. mmcv's forward
    always asks ``nn.MultiheadAttention`` for the head-averaged weights,
    which materialises the [B, heads, Q, L] probabilities; without them
    torch runs its fused kernel (the query initialiser attends to all
    H/4 x W/4 positions). A boolean mask goes to the kernel as it is, and
    may be one per image broadcast over the heads: ``nn.MultiheadAttention``
    would turn a [B*heads, Q, L] mask into floats first.

    With attention dropout in training, torch has no fused CPU kernel: the
    unfused path keeps the probabilities, the dropout mask and the dropped
    probabilities ([B, heads, Q, L] each) for backward. On CPU without a
    mask the attention is :func:`dropout_attention` (it keeps its inputs and
    recomputes the rest); otherwise it is checkpointed (recomputed in
    backward with the random state restored: the same dropout draw, the
    same gradients).
    """

    def __init__(self, *args, **kwargs) -> None:
        # mmcv's deprecated `dropout` argument writes into the default
        # `dropout_layer` dict, which every later module shares: a fresh one
        kwargs.setdefault('dropout_layer', dict(type='Dropout', drop_prob=0.))
        super().__init__(*args, **kwargs)

    def forward(self,
                query: Tensor,
                key: Tensor,
                value: Tensor,
                query_pos: Optional[Tensor] = None,
                key_pos: Optional[Tensor] = None,
                attn_mask: Optional[Tensor] = None,
                projected: bool = False) -> Tensor:
        """
        Args:
            query (Tensor): [B, Q, C]; ``key`` / ``value`` [B, L, C];
                positions likewise.
            attn_mask (Tensor, optional): Bool, True = blocked,
                [B*heads, Q, L] or [B, 1, Q, L] (the same for every head).
            projected (bool): ``key`` and ``value`` are already their
                in-projections (the keys' positions included), [B, L, C].
        """
        query_in = query if query_pos is None else query + query_pos
        if key_pos is not None:
            key = key + key_pos
        args = (query_in, key, value, attn_mask)
        attn = self.attn
        if self.training and attn.dropout > 0 and torch.is_grad_enabled():
            if attn_mask is None and query.device.type == 'cpu' \
                    and not projected:
                out = attn.out_proj(dropout_attention(
                    query_in, key, value, attn.in_proj_weight,
                    attn.in_proj_bias, attn.num_heads, attn.dropout))
            else:
                out = checkpoint(self._attend, *args, True, projected,
                                 use_reentrant=False)
        else:
            out = self._attend(*args, self.training, projected)
        return query + self.dropout_layer(self.proj_drop(out))

    def _attend(self, query: Tensor, key: Tensor, value: Tensor,
                attn_mask: Optional[Tensor], training: bool,
                projected: bool = False) -> Tensor:
        """In-projections (of the query only when ``projected``), attention
        per head and out-projection of batch first inputs, with dropout in
        the mode of the forward pass (a backward's recomputation may run
        after the model was switched to eval)."""
        attn = self.attn
        heads = attn.num_heads
        weights = attn.in_proj_weight.chunk(3)
        biases = (None, ) * 3 if attn.in_proj_bias is None else \
            attn.in_proj_bias.chunk(3)
        query = F.linear(query, weights[0], biases[0])
        if not projected:
            key, value = (F.linear(x, w, b) for x, w, b in zip(
                (key, value), weights[1:], biases[1:]))
        q, k, v = (x.unflatten(-1, (heads, -1)).transpose(1, 2)
                   for x in (query, key, value))
        if attn_mask is not None:
            if attn_mask.dim() == 3:
                attn_mask = attn_mask.unflatten(0, (-1, heads))
            attn_mask = ~attn_mask  # the kernel's True = attend
        out = F.scaled_dot_product_attention(
            q, k, v, attn_mask, attn.dropout if training else 0.)
        return attn.out_proj(out.transpose(1, 2).flatten(2))


def _init_fused_layers(layer) -> None:
    """mmdet's ``DetrTransformerDecoderLayer._init_layers`` with
    :class:`FusedMultiheadAttention`: the same modules, built in the same
    order."""
    layer.self_attn = FusedMultiheadAttention(**layer.self_attn_cfg)
    layer.cross_attn = FusedMultiheadAttention(**layer.cross_attn_cfg)
    layer.embed_dims = layer.self_attn.embed_dims
    layer.ffn = FFN(**layer.ffn_cfg)
    layer.norms = ModuleList(
        [build_norm_layer(layer.norm_cfg, layer.embed_dims)[1]
         for _ in range(3)])


class TaskGroupedMaskedDecoderLayer(Mask2FormerTransformerDecoderLayer):
    """mmdet's Mask2Former decoder layer (cross-attn, self-attn, FFN, each
    post-normed), its cross-attention shared by an image's tasks."""

    def _init_layers(self) -> None:
        _init_fused_layers(self)

    def forward(self,
                query: Tensor,
                query_pos: Tensor,
                memory: Tensor,
                memory_pos: Tensor,
                attn_mask: Optional[Tensor] = None,
                num_tasks: int = 1) -> Tensor:
        """
        Args:
            query (Tensor): Pair queries [B*T, N, C]; ``query_pos`` likewise.
            memory (Tensor): One level of the image's memory [B, L, C];
                ``memory_pos`` likewise.
            attn_mask (Tensor, optional): Per image, in the grouped layout
                [B*heads, T*N, L] or [B, 1, T*N, L], True = blocked.
            num_tasks (int): T.

        Returns:
            Tensor: [B*T, N, C].
        """
        query = ungroup_tasks(
            self.cross_attn(
                group_tasks(query, num_tasks), memory, memory,
                group_tasks(query_pos, num_tasks), memory_pos, attn_mask),
            num_tasks)
        query = self.norms[0](query)
        query = self.norms[1](
            self.self_attn(query, query, query, query_pos, query_pos))
        return self.norms[2](self.ffn(query))


class TaskGroupedDetrDecoderLayer(DetrTransformerDecoderLayer):
    """mmdet's DETR decoder layer (self-attn, cross-attn, FFN, each
    post-normed, positions added to queries and keys only), its
    cross-attention shared by an image's tasks."""

    def _init_layers(self) -> None:
        _init_fused_layers(self)

    def forward(self,
                query: Tensor,
                query_pos: Tensor,
                key: Tensor,
                value: Tensor,
                key_pos: Optional[Tensor],
                num_tasks: int = 1,
                projected: bool = False) -> Tensor:
        """Pair queries [B*T, Q, C] (``query_pos`` likewise) on per-image
        ``key`` / ``value`` / ``key_pos`` [B, L, C] (``key_pos`` None: the
        keys have their positions; ``projected``: the keys and values are
        the cross-attention's in-projections) -> [B*T, Q, C]."""
        query = self.norms[0](
            self.self_attn(query, query, query, query_pos, query_pos))
        query = ungroup_tasks(
            self.cross_attn(
                group_tasks(query, num_tasks), key, value,
                group_tasks(query_pos, num_tasks), key_pos,
                projected=projected), num_tasks)
        return self.norms[2](self.ffn(self.norms[1](query)))


def _build_layers(decoder, layer_type: type) -> None:
    """mmdet decoders' ``_init_layers`` with ``layer_type`` layers."""
    decoder.layers = ModuleList(
        [layer_type(**decoder.layer_cfg) for _ in range(decoder.num_layers)])
    decoder.embed_dims = decoder.layers[0].embed_dims
    decoder.post_norm = build_norm_layer(decoder.post_norm_cfg,
                                         decoder.embed_dims)[1]


#: ``mask_fn(query [B*T, N, C], level) -> attn_mask`` (see
#: :meth:`OneFormerTransformerDecoder.forward`)
MaskFn = Callable[[Tensor, int], Optional[Tensor]]


class OneFormerTransformerDecoder(Mask2FormerTransformerDecoder):
    """The masked-attention decoder of Mask2Former, on (image, task) pairs.

    Layer i attends to memory level ``i % L`` (round robin, stride 32 first)
    under the attention mask that ``mask_fn`` computes from the queries
    before it: the heads' masks, thresholded (Mask2Former Eq. 2).
    """

    def _init_layers(self) -> None:
        _build_layers(self, TaskGroupedMaskedDecoderLayer)

    def forward(self,
                query: Tensor,
                query_pos: Tensor,
                memories: Sequence[Tuple[Tensor, Tensor]],
                mask_fn: MaskFn,
                num_tasks: int = 1,
                final_mask: bool = False) -> Tensor:
        """
        Args:
            query (Tensor): Initial pair queries [B*T, N, C]; ``query_pos``
                likewise.
            memories (list[tuple]): Per level, the image memory and its
                positions, [B, L_l, C] each.
            mask_fn (callable): ``mask_fn(query, level)`` -> the attention
                mask of ``query`` on ``level`` (bool, grouped by image, see
                ``TaskGroupedMaskedDecoderLayer``); it is
                called on the initial queries and after every layer but the
                last (``final_mask``: also after the last, whose mask is
                unused, for a ``mask_fn`` that records predictions).
            num_tasks (int): T.

        Returns:
            Tensor: Queries after the last layer, not normed [B*T, N, C].
        """
        num_levels = len(memories)
        attn_mask = mask_fn(query, 0)
        for i, layer in enumerate(self.layers):
            memory, memory_pos = memories[i % num_levels]
            query = layer(query, query_pos, memory, memory_pos, attn_mask,
                          num_tasks)
            if final_mask or i + 1 < len(self.layers):
                attn_mask = mask_fn(query, (i + 1) % num_levels)
        return query


class OneFormerQueryDecoder(DetrTransformerDecoder):
    """The query initialiser's DETR decoder on (image, task) pairs."""

    def _init_layers(self) -> None:
        _build_layers(self, TaskGroupedDetrDecoderLayer)

    def forward(self, query: Tensor, query_pos: Tensor,
                key: Optional[Tensor], value: Optional[Tensor],
                key_pos: Optional[Tensor], num_tasks: int = 1,
                projected: Optional[Sequence[Tuple[Tensor, Tensor]]] = None
                ) -> Tensor:
        """Pair queries [B*T, Q, C] on per-image memory [B, L, C] ->
        post-normed queries [B*T, Q, C].

        ``projected``, instead of ``key`` / ``value`` / ``key_pos``: each
        layer's cross-attention keys and values, already in-projected, [B, L,
        C] each (see ``OneFormerQueryInitialiser``)."""
        if projected is None:
            # every layer attends to the same keys: one sum and one
            # contiguous copy (F.linear would copy a strided one at every
            # use), which training on CPU keeps once for all layers' backward
            key = (key + key_pos).contiguous()
            memories = [(key, value)] * len(self.layers)
        else:
            memories = projected
        for layer, (key, value) in zip(self.layers, memories):
            query = layer(query, query_pos, key, value, None, num_tasks,
                          projected is not None)
        return self.post_norm(query)


__all__: List[str] = [
    'FusedMultiheadAttention', 'OneFormerQueryDecoder',
    'OneFormerTransformerDecoder', 'TaskGroupedDetrDecoderLayer',
    'TaskGroupedMaskedDecoderLayer', 'group_tasks', 'ungroup_tasks',
    'unblock_full_rows', 'blocked_where_negative'
]
