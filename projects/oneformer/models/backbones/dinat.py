"""DiNAT (Dilated Neighborhood Attention Transformer) backbone.

Structure and parameter names follow the released OneFormer ``D2DiNAT``
(ImageNet checkpoints of SHI-Labs load with the same names, see
``converters/backbones.py``): a two-conv patch embedding, four levels of
neighbourhood-attention blocks with a per-layer dilation, a 3x3 stride-2
conv downsampler between levels and a LayerNorm on every output stage
(``norm0..3``).

Attention semantics are those of NATTEN 0.14, which the released weights were
trained with: each query attends to the ``kernel_size`` x ``kernel_size``
keys of its own dilation group (positions congruent modulo the dilation) that
surround it, the window being shifted inwards at the borders; a learned
relative positional bias ``rpb[head, dy + k - 1, dx + k - 1]`` (offsets in
dilated steps) is added to the logits; maps smaller than
``kernel_size * dilation`` are zero-padded at the bottom/right before the qkv
projection and cropped after the attention.

NATTEN >= 0.20 has no relative positional bias in any of its operators, so
the default ``backend='torch'`` computes this attention in plain PyTorch
(exact on any device; :func:`neighborhood_attention_2d`).
``backend='natten'`` runs ``natten.na2d`` instead and therefore only works
without the bias (``rel_pos_bias=False``, not the released models).
"""
import functools
from typing import List, Optional, Sequence, Tuple

import torch
import torch.nn.functional as F
import torch.utils.checkpoint as cp
from mmcv.cnn.bricks import DropPath
from torch import Tensor, nn

from mmdet.registry import MODELS
from .frozen import FrozenStagesBackbone

NATTEN_INSTALL = 'pip install natten==0.21.7'


def import_natten():
    """The ``natten`` module, or an ImportError of one line saying how to
    install it."""
    try:
        import natten
    except ImportError:
        raise ImportError('DiNAT with backend="natten" needs NATTEN: '
                          f'{NATTEN_INSTALL}') from None
    return natten


def neighborhood_1d(length: int, kernel_size: int, dilation: int,
                    device=None) -> Tuple[Tensor, Tensor]:
    """Key positions and bias offsets of dilated neighbourhoods on one axis.

    Returns ``keys [length, kernel_size]`` (absolute key position of every
    kernel slot of every query position) and ``bias [length, kernel_size]``
    (index into the ``2k-1`` bias axis: key minus query in dilated steps, plus
    ``k - 1``).
    """
    if kernel_size % 2 != 1:
        raise ValueError(f'kernel_size must be odd, got {kernel_size}.')
    if length < kernel_size * dilation:
        raise ValueError(f'length {length} < kernel_size * dilation '
                         f'({kernel_size} * {dilation}).')
    pos = torch.arange(length, device=device)
    group, sub = pos % dilation, pos // dilation
    group_len = (length - group + dilation - 1) // dilation
    start = torch.minimum((sub - kernel_size // 2).clamp(min=0),
                          group_len - kernel_size)
    slots = torch.arange(kernel_size, device=device)
    key_sub = start[:, None] + slots
    keys = group[:, None] + key_sub * dilation
    bias = key_sub - sub[:, None] + kernel_size - 1
    return keys, bias


@functools.lru_cache(maxsize=64)
def _neighbour_index(height: int, width: int, kernel_size: int,
                     dilation: int, device,
                     out_size: Tuple[int, int]) -> Tuple[Tensor, Tensor, Tensor]:
    """Flat key index ``[h*w, k*k]`` of every neighbour of the queries in the
    top-left ``out_size`` (h, w) of the H x W map, and their row/column bias
    indices (``[h, k]``, ``[w, k]``). Cached: the logits and the weighted sum
    of an attention, and every block of a level with the same dilation, share
    one index (the tensors are read only)."""
    out_h, out_w = out_size
    rows, row_bias = neighborhood_1d(height, kernel_size, dilation, device)
    cols, col_bias = neighborhood_1d(width, kernel_size, dilation, device)
    rows, row_bias = rows[:out_h], row_bias[:out_h]
    cols, col_bias = cols[:out_w], col_bias[:out_w]
    index = rows[:, None, :, None] * width + cols[None, :, None, :]
    return index.reshape(out_h * out_w, -1), row_bias, col_bias


def na2d_qk(q: Tensor,
            k: Tensor,
            kernel_size: int,
            dilation: int = 1,
            rpb: Optional[Tensor] = None,
            out_size: Optional[Tuple[int, int]] = None) -> Tensor:
    """Logits ``q . k + rpb`` of every query with its neighbours.

    Args:
        q, k (Tensor): ``[B, heads, H, W, head_dim]`` (q already scaled); H
            and W must be at least ``kernel_size * dilation``.
        kernel_size (int): Odd neighbourhood size.
        dilation (int): Dilation of the neighbourhood.
        rpb (Tensor, optional): ``[heads, 2k-1, 2k-1]`` bias.
        out_size (tuple, optional): Only the queries of the top-left (h, w)
            (the unpadded map); defaults to all.

    Returns:
        Tensor: ``[B, heads, h, w, k*k]``, neighbours in row-major order.
    """
    batch, heads, height, width, head_dim = q.shape
    out_h, out_w = out_size or (height, width)
    index, row_bias, col_bias = _neighbour_index(height, width, kernel_size,
                                                 dilation, q.device,
                                                 (out_h, out_w))
    q = q[:, :, :out_h, :out_w].reshape(batch, heads, out_h * out_w, head_dim)
    k = k.reshape(batch, heads, height * width, head_dim)
    # gather one kernel row of neighbours at a time to bound the memory
    logits = torch.cat([
        torch.einsum('bhnd,bhnkd->bhnk', q, k[:, :, idx])
        for idx in index.split(kernel_size, dim=1)
    ],
                       dim=-1)
    if rpb is not None:
        bias = rpb[:, row_bias[:, None, :, None], col_bias[None, :, None, :]]
        logits = logits + bias.reshape(heads, out_h * out_w, -1)
    return logits.reshape(batch, heads, out_h, out_w, -1)


def na2d_av(attn: Tensor, v: Tensor, kernel_size: int,
            dilation: int = 1) -> Tensor:
    """Weighted sum of the neighbour values: ``attn [B, heads, h, w, k*k]``
    (the queries of the top-left h x w), ``v [B, heads, H, W, head_dim]`` ->
    ``[B, heads, h, w, head_dim]``."""
    batch, heads, height, width, head_dim = v.shape
    out_h, out_w = attn.shape[2:4]
    index, _, _ = _neighbour_index(height, width, kernel_size, dilation,
                                   v.device, (out_h, out_w))
    attn = attn.reshape(batch, heads, out_h * out_w, -1)
    v = v.reshape(batch, heads, height * width, head_dim)
    out = sum(
        torch.einsum('bhnk,bhnkd->bhnd', a, v[:, :, idx]) for a, idx in zip(
            attn.split(kernel_size, dim=-1), index.split(kernel_size, dim=1)))
    return out.reshape(batch, heads, out_h, out_w, head_dim)


def neighborhood_attention_2d(q: Tensor,
                              k: Tensor,
                              v: Tensor,
                              kernel_size: int,
                              dilation: int = 1,
                              rpb: Optional[Tensor] = None,
                              scale: Optional[float] = None,
                              attn_drop: Optional[nn.Module] = None,
                              out_size: Optional[Tuple[int, int]] = None
                              ) -> Tensor:
    """Dilated 2D neighbourhood attention with relative positional bias on
    ``[B, heads, H, W, head_dim]`` tensors (``scale`` defaults to
    ``head_dim ** -0.5``), for the queries of the top-left ``out_size``; see
    :func:`na2d_qk`."""
    scale = q.shape[-1]**-0.5 if scale is None else scale
    attn = na2d_qk(q * scale, k, kernel_size, dilation, rpb,
                   out_size).softmax(dim=-1)
    if attn_drop is not None:
        attn = attn_drop(attn)
    return na2d_av(attn, v, kernel_size, dilation)


class NeighborhoodAttention2D(nn.Module):
    """Multi-head dilated neighbourhood attention on ``[B, H, W, C]`` maps
    (parameters ``qkv``, ``rpb``, ``proj`` as in NATTEN 0.14)."""

    def __init__(self,
                 dim: int,
                 num_heads: int,
                 kernel_size: int,
                 dilation: int = 1,
                 rel_pos_bias: bool = True,
                 qkv_bias: bool = True,
                 qk_scale: Optional[float] = None,
                 attn_drop: float = 0.,
                 proj_drop: float = 0.,
                 backend: str = 'torch'):
        super().__init__()
        if backend not in ('torch', 'natten'):
            raise ValueError(f'backend must be "torch" or "natten", '
                             f'got {backend!r}.')
        if backend == 'natten':
            if rel_pos_bias:
                raise ValueError(
                    'NATTEN >= 0.20 has no relative positional bias; '
                    'backend="natten" needs rel_pos_bias=False.')
            self._na2d = import_natten().na2d
        self.backend = backend
        self.num_heads = num_heads
        self.head_dim = dim // num_heads
        self.scale = qk_scale or self.head_dim**-0.5
        self.kernel_size = kernel_size
        self.dilation = dilation or 1
        self.window_size = self.kernel_size * self.dilation
        self.qkv = nn.Linear(dim, dim * 3, bias=qkv_bias)
        if rel_pos_bias:
            self.rpb = nn.Parameter(
                torch.zeros(num_heads, 2 * kernel_size - 1,
                            2 * kernel_size - 1))
            nn.init.trunc_normal_(self.rpb, std=.02, a=-2., b=2.)
        else:
            self.register_parameter('rpb', None)
        self.attn_drop = nn.Dropout(attn_drop)
        self.proj = nn.Linear(dim, dim)
        self.proj_drop = nn.Dropout(proj_drop)

    def forward(self, x: Tensor) -> Tensor:
        batch, height, width, channels = x.shape
        pad_w = max(0, self.window_size - width)
        pad_h = max(0, self.window_size - height)
        if pad_w or pad_h:
            x = F.pad(x, (0, 0, 0, pad_w, 0, pad_h))
        qkv = self.qkv(x).reshape(batch, height + pad_h, width + pad_w, 3,
                                  self.num_heads, self.head_dim)
        if self.backend == 'natten':
            q, k, v = qkv.unbind(3)  # [B, H, W, heads, head_dim]
            x = self._na2d(
                q,
                k,
                v,
                kernel_size=self.kernel_size,
                dilation=self.dilation,
                scale=self.scale)
        else:
            q, k, v = qkv.permute(3, 0, 4, 1, 2, 5).unbind(0)
            # padded positions serve as keys only: no query is computed there
            x = neighborhood_attention_2d(q, k, v, self.kernel_size,
                                          self.dilation, self.rpb,
                                          self.scale, self.attn_drop,
                                          (height, width))
            x = x.permute(0, 2, 3, 1, 4)
        x = x[:, :height, :width].reshape(batch, height, width, channels)
        return self.proj_drop(self.proj(x))

    def extra_repr(self) -> str:
        return (f'num_heads={self.num_heads}, kernel_size='
                f'{self.kernel_size}, dilation={self.dilation}, '
                f'rel_pos_bias={self.rpb is not None}, '
                f'backend={self.backend!r}')


class Mlp(nn.Module):

    def __init__(self, dim: int, hidden: int, drop: float = 0.):
        super().__init__()
        self.fc1 = nn.Linear(dim, hidden)
        self.act = nn.GELU()
        self.fc2 = nn.Linear(hidden, dim)
        self.drop = nn.Dropout(drop)

    def forward(self, x: Tensor) -> Tensor:
        return self.drop(self.fc2(self.drop(self.act(self.fc1(x)))))


class NATLayer(nn.Module):
    """Pre-norm block: x + NA(LN(x)), x + MLP(LN(x)), with drop path."""

    def __init__(self,
                 dim: int,
                 num_heads: int,
                 kernel_size: int,
                 dilation: int = 1,
                 mlp_ratio: float = 4.,
                 drop: float = 0.,
                 attn_drop: float = 0.,
                 drop_path: float = 0.,
                 with_cp: bool = False,
                 **attn_kwargs):
        super().__init__()
        self.with_cp = with_cp
        self.norm1 = nn.LayerNorm(dim)
        self.attn = NeighborhoodAttention2D(
            dim,
            num_heads,
            kernel_size,
            dilation,
            attn_drop=attn_drop,
            proj_drop=drop,
            **attn_kwargs)
        self.drop_path = DropPath(drop_path) if drop_path > 0 else \
            nn.Identity()
        self.norm2 = nn.LayerNorm(dim)
        self.mlp = Mlp(dim, int(dim * mlp_ratio), drop)

    def _forward(self, x: Tensor) -> Tensor:
        x = x + self.drop_path(self.attn(self.norm1(x)))
        return x + self.drop_path(self.mlp(self.norm2(x)))

    def forward(self, x: Tensor) -> Tensor:
        if self.with_cp and x.requires_grad:
            return cp.checkpoint(self._forward, x, use_reentrant=False)
        return self._forward(x)


class ConvTokenizer(nn.Module):
    """Two 3x3 stride-2 convs (no activation between) and a LayerNorm;
    returns ``[B, H/4, W/4, C]``."""

    def __init__(self, in_channels: int, embed_dim: int):
        super().__init__()
        self.proj = nn.Sequential(
            nn.Conv2d(in_channels, embed_dim // 2, 3, 2, 1),
            nn.Conv2d(embed_dim // 2, embed_dim, 3, 2, 1))
        self.norm = nn.LayerNorm(embed_dim)

    def forward(self, x: Tensor) -> Tensor:
        return self.norm(self.proj(x).permute(0, 2, 3, 1))


class ConvDownsampler(nn.Module):
    """3x3 stride-2 conv doubling the channels, then a LayerNorm."""

    def __init__(self, dim: int):
        super().__init__()
        self.reduction = nn.Conv2d(dim, 2 * dim, 3, 2, 1, bias=False)
        self.norm = nn.LayerNorm(2 * dim)

    def forward(self, x: Tensor) -> Tensor:
        x = self.reduction(x.permute(0, 3, 1, 2)).permute(0, 2, 3, 1)
        return self.norm(x)


class NATLevel(nn.Module):
    """``blocks`` then an optional ``downsample``; returns (next input,
    this level's output)."""

    def __init__(self, dim: int, depth: int, dilations: Sequence[int],
                 drop_paths: Sequence[float], downsample: bool, **kwargs):
        super().__init__()
        self.blocks = nn.ModuleList([
            NATLayer(dim, dilation=dilations[i], drop_path=drop_paths[i],
                     **kwargs) for i in range(depth)
        ])
        self.downsample = ConvDownsampler(dim) if downsample else None

    def forward(self, x: Tensor) -> Tuple[Tensor, Tensor]:
        for block in self.blocks:
            x = block(x)
        if self.downsample is None:
            return x, x
        return self.downsample(x), x


@MODELS.register_module()
class DiNAT(FrozenStagesBackbone):
    """DiNAT backbone with the released OneFormer ``D2DiNAT`` layout.

    Args:
        embed_dim (int): Channels of the first level (doubled per level).
        depths (Sequence[int]): Blocks per level.
        num_heads (Sequence[int]): Attention heads per level.
        kernel_size (int): Neighbourhood size (odd).
        dilations (Sequence[Sequence[int]], optional): Dilation of every
            block of every level; None = 1 everywhere.
        mlp_ratio (float): MLP hidden ratio.
        drop_path_rate (float): Stochastic depth, linear over all blocks.
        out_indices (Sequence[int]): Levels returned, each after its own
            LayerNorm ``norm{i}``.
        frozen_stages (int): -1: none; 0: patch embedding; n >= 1: also
            levels 0..n-1.
        backend (str): 'torch' (exact, with the relative positional bias) or
            'natten' (``natten.na2d``, needs ``rel_pos_bias=False``).
        with_cp (bool): Gradient checkpointing per block (saves the memory
            the neighbour gathers of the 'torch' backend keep for backward).
    """

    def __init__(self,
                 embed_dim: int = 64,
                 depths: Sequence[int] = (3, 4, 6, 5),
                 num_heads: Sequence[int] = (2, 4, 8, 16),
                 kernel_size: int = 7,
                 dilations: Optional[Sequence[Sequence[int]]] = None,
                 mlp_ratio: float = 3.,
                 in_channels: int = 3,
                 qkv_bias: bool = True,
                 qk_scale: Optional[float] = None,
                 rel_pos_bias: bool = True,
                 drop_rate: float = 0.,
                 attn_drop_rate: float = 0.,
                 drop_path_rate: float = 0.2,
                 out_indices: Sequence[int] = (0, 1, 2, 3),
                 frozen_stages: int = -1,
                 backend: str = 'torch',
                 with_cp: bool = False,
                 init_cfg=None):
        super().__init__(init_cfg=init_cfg)
        num_levels = len(depths)
        if dilations is None:
            dilations = [[1] * d for d in depths]
        if [len(d) for d in dilations] != list(depths):
            raise ValueError(f'dilations {dilations} do not match depths '
                             f'{depths}.')
        self.num_features = [embed_dim * 2**i for i in range(num_levels)]
        self.out_indices = tuple(out_indices)
        self.frozen_stages = frozen_stages
        self.patch_embed = ConvTokenizer(in_channels, embed_dim)
        self.pos_drop = nn.Dropout(drop_rate)
        dpr = torch.linspace(0, drop_path_rate, sum(depths)).tolist()
        self.levels = nn.ModuleList()
        for i in range(num_levels):
            first = sum(depths[:i])
            self.levels.append(
                NATLevel(
                    self.num_features[i],
                    depths[i],
                    dilations[i],
                    dpr[first:first + depths[i]],
                    downsample=i < num_levels - 1,
                    num_heads=num_heads[i],
                    kernel_size=kernel_size,
                    mlp_ratio=mlp_ratio,
                    drop=drop_rate,
                    attn_drop=attn_drop_rate,
                    with_cp=with_cp,
                    qkv_bias=qkv_bias,
                    qk_scale=qk_scale,
                    rel_pos_bias=rel_pos_bias,
                    backend=backend))
        for i in self.out_indices:
            self.add_module(f'norm{i}', nn.LayerNorm(self.num_features[i]))
        self._freeze_stages()

    def frozen_modules(self):
        if self.frozen_stages < 0:
            return []
        return [self.patch_embed, *self.levels[:self.frozen_stages]]

    def forward(self, x: Tensor) -> Tuple[Tensor, ...]:
        x = self.pos_drop(self.patch_embed(x))
        outs: List[Tensor] = []
        for i, level in enumerate(self.levels):
            x, out = level(x)
            if i in self.out_indices:
                out = getattr(self, f'norm{i}')(out)
                outs.append(out.permute(0, 3, 1, 2).contiguous())
        return tuple(outs)
