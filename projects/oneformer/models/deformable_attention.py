"""Multi-scale deformable attention (Deformable DETR) with Python level sizes.

mmcv's ``MultiScaleDeformableAttention`` receives the per-level sizes as a
tensor and reads them back element by element; a graph exporter sees those
reads as data-dependent. Here the sizes are Python ints (static when the image
size is, symbolic in a dynamic export), so the PyTorch path traces to plain
``GridSample`` nodes. Same parameters, same math.

Run eagerly, the sampling is one ``embedding_bag`` instead: each output is a
weighted sum of the 4 bilinear corners of every (level, point), so the corner
rows of all levels are gathered and summed with their bilinear x attention
weights in one call (:func:`deformable_attention_gather`), without the
per-level ``grid_sample`` outputs, their concatenation and the weighted sum
over them, and the offsets and attention weights are computed in fewer,
faster ops (:meth:`MultiLevelDeformableAttention._offsets_and_weights`).
Graph capture (ONNX export, ``torch.compile``) keeps the ``grid_sample`` form
(:func:`deformable_attention_core`) and mmcv's ops for the offsets and
weights.
"""
import warnings
from typing import Optional, Sequence, Tuple

import torch
import torch.nn.functional as F
from mmcv.ops import MultiScaleDeformableAttention, get_compiling_cuda_version
from mmcv.ops.multi_scale_deform_attn import MultiScaleDeformableAttnFunction
from torch import Tensor

from mmdet.registry import MODELS

#: whether mmcv was compiled with its CUDA kernels
MMCV_HAS_CUDA_OPS = get_compiling_cuda_version() != 'not available'
_warned_fallback = False


def deformable_attention_core(value: Tensor,
                              level_sizes: Sequence[Tuple[int, int]],
                              sampling_locations: Tensor,
                              attention_weights: Tensor) -> Tensor:
    """Bilinear sampling of every level, weighted sum over levels and points.

    Args:
        value (Tensor): Per-head values of all levels, flattened level after
            level, [B, S, M, D] with S = sum of h*w.
        level_sizes (Sequence[tuple[int, int]]): (h, w) of each level, L.
        sampling_locations (Tensor): Normalised (x, y) in [0, 1],
            [B, Q, M, L, P, 2].
        attention_weights (Tensor): Softmaxed over L*P, [B, Q, M, L, P].

    Returns:
        Tensor: [B, Q, M*D].
    """
    batch, _, heads, dims = value.shape
    # planes of (image, head): [B*M, D, S]; grids [B*M, Q, L, P, 2] in [-1, 1]
    planes = value.permute(0, 2, 3, 1).flatten(0, 1)
    grids = (2 * sampling_locations - 1).transpose(1, 2).flatten(0, 1)
    sampled, start = [], 0
    for level, (h, w) in enumerate(level_sizes):
        plane = planes[..., start:start + h * w].unflatten(-1, (h, w))
        start += h * w
        sampled.append(
            F.grid_sample(plane, grids[:, :, level], mode='bilinear',
                          padding_mode='zeros', align_corners=False))
    # [B*M, D, Q, L*P] x [B*M, 1, Q, L*P] summed over L*P -> [B*M, D, Q]
    weights = attention_weights.transpose(1, 2).flatten(0, 1).flatten(-2)
    out = (torch.cat(sampled, dim=-1) * weights[:, None]).sum(-1)
    return out.unflatten(0, (batch, heads)).flatten(1, 2).transpose(1, 2)


def deformable_attention_gather(value: Tensor,
                                level_sizes: Sequence[Tuple[int, int]],
                                sampling_locations: Tensor,
                                attention_weights: Tensor) -> Tensor:
    """:func:`deformable_attention_core` as one gather-and-sum.

    ``grid_sample`` (bilinear, zero padding, ``align_corners=False``) reads
    pixel (x, y) = (u * w - 0.5, v * h - 0.5) of a level as its 4
    surrounding pixels weighted (1 - fx or fx) x (1 - fy or fy), a pixel
    outside the level counting 0. Here every level gets a zero border (1
    pixel before, 2 after) and x, y are clamped to [-1, w] x [-1, h], so
    every corner is a row of the bordered [B*M*S', D] value table (a corner
    clamped away has weight 0 or reads the border); the rows and their
    bilinear x attention weights are ``embedding_bag``'s inputs and
    per-sample weights, one bag of L*P*4 rows per (image, query, head). The
    same sum in another order (float rounding apart); the gradients reach the
    values, the locations and the weights.

    Args and returns: those of :func:`deformable_attention_core`.
    """
    batch, _, heads, dims = value.shape
    levels = len(level_sizes)
    device = value.device
    planes = value.transpose(1, 2)  # [B, M, S, D]
    bordered, starts, start, end = [], [], 0, 0
    for h, w in level_sizes:
        plane = planes[:, :, start:start + h * w].unflatten(2, (h, w))
        bordered.append(F.pad(plane, (0, 0, 1, 2, 1, 2)).flatten(2, 3))
        start += h * w
        starts.append(end)
        end += (h + 3) * (w + 3)
    table = torch.cat(bordered, 2).view(-1, dims)
    # per-level constants as [L, P] blocks: broadcast over [B, Q, M] only
    points = sampling_locations.shape[-2]

    def per_level(values, dtype):
        return torch.tensor(values, dtype=dtype, device=device).view(
            levels, 1).expand(levels, points).contiguous()

    coords, fracs = [], []
    for axis, extent in ((0, [w for _, w in level_sizes]),
                         (1, [h for h, _ in level_sizes])):
        extent = per_level(extent, value.dtype)
        pixel = (sampling_locations[..., axis] * extent - 0.5).clamp(
            min=-1).minimum(extent)
        corner = pixel.floor()
        fracs.append(pixel - corner)
        coords.append(corner.int() + 1)  # in the bordered plane
    widths = per_level([w + 3 for _, w in level_sizes], torch.int32)
    first = (torch.arange(batch * heads, device=device, dtype=torch.int32) *
             end).view(batch, 1, heads, 1, 1) + per_level(starts, torch.int32)
    first = first + coords[1] * widths + coords[0]
    # (y, x) corners (0, 0), (0, 1), (1, 0), (1, 1)
    rows = torch.stack([first, first + 1, first + widths,
                        first + widths + 1], -1)
    fx, fy = fracs
    top, bottom = (1 - fy) * attention_weights, fy * attention_weights
    coefs = torch.stack([top * (1 - fx), top * fx, bottom * (1 - fx),
                         bottom * fx], -1)
    bag = 4 * levels * points
    out = F.embedding_bag(
        rows.view(-1, bag), table, mode='sum',
        per_sample_weights=coefs.view(-1, bag))
    return out.view(batch, -1, heads * dims)


def _capturing_graph() -> bool:
    """Whether a graph is being traced, exported or compiled."""
    return (torch.jit.is_tracing() or torch.compiler.is_compiling()
            or torch.compiler.is_exporting()
            or torch.onnx.is_in_onnx_export())


@MODELS.register_module()
class MultiLevelDeformableAttention(MultiScaleDeformableAttention):
    """mmcv's ``MultiScaleDeformableAttention`` taking ``level_sizes``.

    With ``level_sizes`` (a list of (h, w) ints) the sampling runs in
    :func:`deformable_attention_core`, or in mmcv's CUDA kernel for CUDA
    tensors when mmcv was compiled with it; a GPU run on an mmcv built without
    CUDA ops falls back to the PyTorch core with one warning instead of
    failing inside mmcv. Without ``level_sizes`` it is mmcv's module.
    """

    def forward(self,
                query: Tensor,
                key: Optional[Tensor] = None,
                value: Optional[Tensor] = None,
                identity: Optional[Tensor] = None,
                query_pos: Optional[Tensor] = None,
                key_padding_mask: Optional[Tensor] = None,
                reference_points: Optional[Tensor] = None,
                spatial_shapes: Optional[Tensor] = None,
                level_start_index: Optional[Tensor] = None,
                level_sizes: Optional[Sequence[Tuple[int, int]]] = None,
                **kwargs) -> Tensor:
        """Batch-first only.

        Args:
            query (Tensor): [B, Q, C]; ``value`` [B, S, C] (defaults to
                ``query``), ``identity`` likewise (defaults to ``query``).
            key_padding_mask (Tensor, optional): Bool [B, S], True = padding.
            reference_points (Tensor): Normalised (x, y) [B, Q, L, 2].
            level_sizes (Sequence[tuple[int, int]]): (h, w) of each level.

        Returns:
            Tensor: [B, Q, C].
        """
        if level_sizes is None:
            return super().forward(query, key, value, identity, query_pos,
                                   key_padding_mask, reference_points,
                                   spatial_shapes, level_start_index,
                                   **kwargs)
        assert self.batch_first, 'MultiLevelDeformableAttention: batch first'
        value = query if value is None else value
        identity = query if identity is None else identity
        if query_pos is not None:
            query = query + query_pos
        batch, num_query, _ = query.shape
        value = self.value_proj(value)
        if key_padding_mask is not None:
            value = value.masked_fill(key_padding_mask[..., None], 0.0)
        value = value.unflatten(-1, (self.num_heads, -1))
        shape = (batch, num_query, self.num_heads, self.num_levels,
                 self.num_points)
        if _capturing_graph():
            offsets = self.sampling_offsets(query).view(*shape, 2)
            weights = self.attention_weights(query).view(
                *shape[:3], -1).softmax(-1).view(shape)
            # offsets are in pixels of their level: x / w, y / h (divided by
            # Python ints: a tensor of them would be a constant in a graph
            # with free H, W)
            offsets = torch.stack([
                torch.stack([offsets[:, :, :, i, :, 0] / w,
                             offsets[:, :, :, i, :, 1] / h], dim=-1)
                for i, (h, w) in enumerate(level_sizes)
            ], dim=3)
        else:
            offsets, weights = self._offsets_and_weights(
                query, level_sizes, shape)
        locations = reference_points[:, :, None, :, None, :] + offsets
        output = self._sample(value, level_sizes, locations, weights)
        return self.dropout(self.output_proj(output)) + identity

    def _offsets_and_weights(self, query: Tensor,
                             level_sizes: Sequence[Tuple[int, int]],
                             shape: Tuple[int, ...]) -> Tuple[Tensor, Tensor]:
        """Eager: sampling offsets in units of their level's size [B, Q, M,
        L, P, 2] and attention weights [B, Q, M, L, P] (``shape``), the same
        math as the graph path in fewer, faster ops.

        The offsets are divided by their level's (w, h) in one division of
        the linear layer's output by a [M*L*P*2] vector, instead of per-level
        slices and stacks. The attention logits are computed queries last,
        [B, M, L*P, Q], so that their softmax over L*P runs along contiguous
        rows of queries: torch's CPU softmax over a last dimension of L*P
        (12) is several times slower.
        """
        batch, num_query, heads, levels, points = shape
        extent = query.new_tensor([(w, h) for h, w in level_sizes])
        extent = extent.view(1, levels, 1, 2).expand(heads, -1, points,
                                                     -1).flatten()
        offsets = (self.sampling_offsets(query) / extent).view(*shape, 2)
        layer = self.attention_weights
        logits = torch.baddbmm(layer.bias[:, None],
                               layer.weight.expand(batch, -1, -1),
                               query.transpose(1, 2))
        weights = logits.view(batch, heads, levels * points,
                              num_query).softmax(2)
        return offsets, weights.permute(0, 3, 1, 2).reshape(shape)

    def _sample(self, value: Tensor, level_sizes: Sequence[Tuple[int, int]],
                locations: Tensor, weights: Tensor) -> Tensor:
        """mmcv's CUDA kernel where it exists, else a PyTorch core."""
        global _warned_fallback
        if value.is_cuda and not torch.compiler.is_compiling():
            if MMCV_HAS_CUDA_OPS:
                shapes = torch.as_tensor(level_sizes, dtype=torch.long,
                                         device=value.device)
                starts = torch.cat((shapes.new_zeros(1),
                                    shapes.prod(1).cumsum(0)[:-1]))
                return MultiScaleDeformableAttnFunction.apply(
                    value, shapes, starts, locations, weights,
                    self.im2col_step)
            if not _warned_fallback:
                warnings.warn(
                    'mmcv was compiled without CUDA ops: multi-scale '
                    'deformable attention runs its PyTorch path on the GPU '
                    '(slower); rebuild mmcv with FORCE_CUDA=1 for the kernel')
                _warned_fallback = True
        core = (deformable_attention_core if _capturing_graph() else
                deformable_attention_gather)
        return core(value, level_sizes, locations, weights)
