"""Panoptic SegFormer mask decoder: cross-attention whose logits are masks.

Released layout (``MaskHead`` of zhiqi-li/Panoptic-SegFormer): post-norm
blocks of [self-attention (stuff only)], cross-attention to the encoder
memory of the first ``num_levels`` levels (strides 8, 16, 32) and an MLP,
plus a final "tail" attention that only produces a mask. The mask of each
block is read off its attention logits, so masks come for free with the
attention and every block is deeply supervised.
"""
from typing import List, Optional, Tuple

import torch
import torch.nn.functional as F
from mmcv.cnn.bricks.transformer import FFN, MultiheadAttention
from mmengine.model import BaseModule
from torch import Tensor, nn

from mmdet.registry import MODELS


class MaskAttention(nn.Module):
    """Multi-head cross-attention that also turns its logits into a mask.

    Per level l the logits (B, N, H_l*W_l, heads) go through
    ReLU(Linear(heads, heads)); levels 2.. are bilinearly upsampled to the
    first (stride 8) level, concatenated (B, N, H_0*W_0, levels*heads) and
    fused by ReLU(Linear(levels*heads, 1)): a non-negative mask. The released
    code never applies the memory padding mask here; neither do we.

    Args:
        embed_dims (int): channels C.
        num_heads (int): heads h.
        num_levels (int): memory levels the masks are read from.
        with_value (bool): False for the tail, which returns only the mask.
    """

    def __init__(self, embed_dims: int, num_heads: int, num_levels: int = 3,
                 with_value: bool = True) -> None:
        super().__init__()
        self.num_heads = num_heads
        self.scale = (embed_dims // num_heads)**-0.5
        self.q_proj = nn.Linear(embed_dims, embed_dims)
        self.k_proj = nn.Linear(embed_dims, embed_dims)
        self.with_value = with_value
        if with_value:
            self.v_proj = nn.Linear(embed_dims, embed_dims)
            self.out_proj = nn.Linear(embed_dims, embed_dims)
        self.level_fcs = nn.ModuleList(
            nn.Linear(num_heads, num_heads) for _ in range(num_levels))
        self.fuse_fc = nn.Linear(num_heads * num_levels, 1)

    def _heads(self, x: Tensor) -> Tensor:
        """(B, L, C) -> (B, heads, L, C / heads)."""
        b, n, c = x.shape
        return x.view(b, n, self.num_heads, c // self.num_heads).transpose(
            1, 2)

    def attn_to_mask(self, logits: Tensor,
                     spatial_shapes: List[Tuple[int, int]]) -> Tensor:
        """(B, heads, N, sum H_l*W_l) logits -> (B, N, H_0, W_0) mask."""
        b, h, n, _ = logits.shape
        size0 = tuple(spatial_shapes[0])
        logits = logits.permute(0, 2, 3, 1)  # B, N, L, heads
        fused, start = [], 0
        for fc, (hl, wl) in zip(self.level_fcs, spatial_shapes):
            feat = F.relu(fc(logits[:, :, start:start + hl * wl]))
            start += hl * wl
            if (hl, wl) != size0:
                feat = feat.permute(0, 1, 3, 2).reshape(b * n, h, hl, wl)
                feat = F.interpolate(
                    feat, size=size0, mode='bilinear', align_corners=False)
                feat = feat.flatten(2).transpose(1, 2).reshape(b, n, -1, h)
            fused.append(feat)
        mask = F.relu(self.fuse_fc(torch.cat(fused, -1)))
        return mask.view(b, n, *size0)

    def forward(self, query: Tensor, key: Tensor, value: Optional[Tensor],
                spatial_shapes: List[Tuple[int, int]]
                ) -> Tuple[Optional[Tensor], Tensor]:
        """query (B, N, C), key/value (B, L, C) -> ((B, N, C) or None, mask
        (B, N, H_0, W_0))."""
        q = self._heads(self.q_proj(query))
        k = self._heads(self.k_proj(key))
        logits = (q @ k.transpose(-2, -1)) * self.scale  # B, h, N, L
        mask = self.attn_to_mask(logits, spatial_shapes)
        if not self.with_value:
            return None, mask
        v = self._heads(self.v_proj(value))
        out = logits.softmax(-1) @ v  # B, h, N, C/h
        out = out.transpose(1, 2).flatten(2)
        return self.out_proj(out), mask


class MaskDecoderLayer(nn.Module):
    """Post-norm block: [self-attn, norm], mask cross-attn, norm, MLP, norm.

    LayerNorm eps 1e-6 and a GELU MLP (ratio 4), as released.
    """

    def __init__(self, embed_dims: int, num_heads: int, num_levels: int = 3,
                 self_attn: bool = False, mlp_ratio: int = 4) -> None:
        super().__init__()
        self.with_self_attn = self_attn
        if self_attn:
            # mmcv's MultiheadAttention adds the residual itself.
            self.self_attn = MultiheadAttention(
                embed_dims, num_heads, batch_first=True)
            self.self_attn_norm = nn.LayerNorm(embed_dims, eps=1e-6)
        self.cross_attn = MaskAttention(embed_dims, num_heads, num_levels)
        self.cross_attn_norm = nn.LayerNorm(embed_dims, eps=1e-6)
        self.ffn = FFN(
            embed_dims,
            embed_dims * mlp_ratio,
            act_cfg=dict(type='GELU'),
            ffn_drop=0.,
            add_identity=True)
        self.ffn_norm = nn.LayerNorm(embed_dims, eps=1e-6)

    def forward(self, query: Tensor, memory: Tensor,
                spatial_shapes: List[Tuple[int, int]]
                ) -> Tuple[Tensor, Tensor]:
        if self.with_self_attn:
            query = self.self_attn_norm(self.self_attn(query))
        out, mask = self.cross_attn(query, memory, memory, spatial_shapes)
        query = self.cross_attn_norm(query + out)
        query = self.ffn_norm(self.ffn(query))
        return query, mask


@MODELS.register_module()
class PanopticSegFormerMaskDecoder(BaseModule):
    """Thing (4 layers) or stuff (6 layers, self-attention) mask decoder.

    The positional query is added to the query before every layer (to the
    residual stream, as released); the memory carries no positional
    encoding.

    Args:
        num_layers (int): blocks; masks come from each block and the tail.
        embed_dims (int): channels C.
        num_heads (int): attention heads.
        num_levels (int): memory levels used (the first ones, stride 8 up).
        self_attn (bool): self-attention among queries (stuff decoder).
    """

    def __init__(self, num_layers: int = 4, embed_dims: int = 256,
                 num_heads: int = 8, num_levels: int = 3,
                 self_attn: bool = False, init_cfg=None) -> None:
        super().__init__(init_cfg=init_cfg)
        self.num_levels = num_levels
        self.layers = nn.ModuleList(
            MaskDecoderLayer(embed_dims, num_heads, num_levels, self_attn)
            for _ in range(num_layers))
        self.mask_tail = MaskAttention(
            embed_dims, num_heads, num_levels, with_value=False)

    def init_weights(self) -> None:
        for p in self.parameters():
            if p.dim() > 1:
                nn.init.xavier_uniform_(p)

    def forward(self, query: Tensor, query_pos: Optional[Tensor],
                memory: Tensor, spatial_shapes: List[Tuple[int, int]]
                ) -> Tuple[List[Tensor], List[Tensor]]:
        """
        Args:
            query (Tensor): (B, N, C).
            query_pos (Tensor, optional): (B, N, C).
            memory (Tensor): (B, sum H_l*W_l, C) of the first ``num_levels``
                levels.
            spatial_shapes (list[tuple]): (H_l, W_l) of those levels.

        Returns:
            tuple[list[Tensor], list[Tensor]]: num_layers + 1 masks
            (B, N, H_0, W_0), the tail's last, and the num_layers
            intermediate queries (B, N, C).
        """
        masks, queries = [], []
        for layer in self.layers:
            if query_pos is not None:
                query = query + query_pos
            query, mask = layer(query, memory, spatial_shapes)
            masks.append(mask)
            queries.append(query)
        if query_pos is not None:
            query = query + query_pos
        masks.append(self.mask_tail(query, memory, None, spatial_shapes)[1])
        return masks, queries
