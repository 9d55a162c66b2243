"""The multi-scale deformable-attention pixel decoder with Python level sizes.

mmdet's ``MSDeformAttnPixelDecoder`` with the per-level sizes kept as Python
ints from the feature shapes (it reads them back from a shape tensor), so the
encoder's :class:`MultiLevelDeformableAttention` samples without
data-dependent reads and the decoder exports as one static or dynamic graph.
The same modules, parameter names, initial values and math.
"""
from typing import List, Tuple

import torch
import torch.nn.functional as F
from mmcv.cnn import build_norm_layer
from mmcv.cnn.bricks.transformer import FFN
from torch import Tensor
from torch.nn import ModuleList

from mmdet.models.layers import (DeformableDetrTransformerEncoderLayer,
                                 Mask2FormerTransformerEncoder,
                                 MSDeformAttnPixelDecoder)
from mmdet.registry import MODELS
from .deformable_attention import MultiLevelDeformableAttention


class MultiLevelEncoderLayer(DeformableDetrTransformerEncoderLayer):
    """mmdet's Deformable DETR encoder layer with
    :class:`MultiLevelDeformableAttention` (built in the same order)."""

    def _init_layers(self) -> None:
        self.self_attn = MultiLevelDeformableAttention(**self.self_attn_cfg)
        self.embed_dims = self.self_attn.embed_dims
        self.ffn = FFN(**self.ffn_cfg)
        self.norms = ModuleList(
            [build_norm_layer(self.norm_cfg, self.embed_dims)[1]
             for _ in range(2)])


class MultiLevelEncoder(Mask2FormerTransformerEncoder):
    """mmdet's pixel-decoder encoder with :class:`MultiLevelEncoderLayer`
    layers; ``level_sizes`` reaches their attention through ``**kwargs``."""

    def _init_layers(self) -> None:
        self.layers = ModuleList([
            MultiLevelEncoderLayer(**self.layer_cfg)
            for _ in range(self.num_layers)
        ])
        self.embed_dims = self.layers[0].embed_dims


@MODELS.register_module()
class OneFormerPixelDecoder(MSDeformAttnPixelDecoder):
    """``MSDeformAttnPixelDecoder`` whose level sizes stay Python ints.

    Args: those of ``MSDeformAttnPixelDecoder``.
    """

    def __init__(self, *args, encoder, **kwargs) -> None:
        super().__init__(*args, encoder=encoder, **kwargs)
        built = self.encoder
        # the same modules in the same order: keep mmdet's initial values and
        # leave the random draws of what follows unchanged
        with torch.random.fork_rng(devices=[]):
            self.encoder = MultiLevelEncoder(**encoder)
        self.encoder.load_state_dict(built.state_dict())

    def forward(self, feats: List[Tensor]) -> Tuple[Tensor, List[Tensor]]:
        """
        Args:
            feats (list[Tensor]): Backbone features [B, C_i, h_i, w_i],
                strides 4 to 32.

        Returns:
            tuple: mask features [B, C_out, H/4, W/4] and the ``num_outs``
            multi-scale features [B, C, h, w], stride 32 first.
        """
        batch = feats[0].shape[0]
        inputs, positions, references, sizes = [], [], [], []
        for i in range(self.num_encoder_levels):
            level = self.num_input_levels - i - 1
            feat = feats[level]
            h, w = feat.shape[-2:]
            pos = self.postional_encoding(
                feat.new_zeros((batch, h, w), dtype=torch.bool))
            pos = pos + self.level_encoding.weight[i].view(1, -1, 1, 1)
            # pixel centres normalised by the level's extent, (x, y)
            points = self.point_generator.single_level_grid_priors(
                (h, w), level, device=feat.device)
            stride = self.strides[level]
            # divided by Python ints: a tensor of them would be a constant
            # in a graph with free H, W
            references.append(torch.stack(
                [points[:, 0] / (w * stride), points[:, 1] / (h * stride)],
                dim=-1))
            inputs.append(self.input_convs[i](feat).flatten(2).transpose(1, 2))
            positions.append(pos.flatten(2).transpose(1, 2))
            sizes.append((h, w))
        reference_points = torch.cat(references)[None, :, None].expand(
            batch, -1, self.num_encoder_levels, -1)
        memory = self.encoder(
            query=torch.cat(inputs, dim=1),
            query_pos=torch.cat(positions, dim=1),
            key_padding_mask=None,
            spatial_shapes=None,
            level_start_index=None,
            valid_ratios=None,
            reference_points=reference_points,
            level_sizes=sizes)
        outs = [
            part.transpose(1, 2).unflatten(-1, size) for part, size in zip(
                memory.split([h * w for h, w in sizes], dim=1), sizes)
        ]
        for i in range(self.num_input_levels - self.num_encoder_levels - 1,
                       -1, -1):
            lateral = self.lateral_convs[i](feats[i])
            outs.append(self.output_convs[i](lateral + F.interpolate(
                outs[-1], size=lateral.shape[-2:], mode='bilinear',
                align_corners=False)))
        return self.mask_feature(outs[-1]), outs[:self.num_outs]
