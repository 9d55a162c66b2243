"""Task-guided query initialisation, the released "class transformer".

Paper Sec. 3.2: N-1 repetitions of the task token are refined by a 2-layer
transformer decoder attending to the stride-4 features, and the task token is
appended as the last query.
"""
import copy
from typing import List, Optional, Tuple

import torch
from mmcv.cnn import Conv2d
from mmengine.model import BaseModule, caffe2_xavier_init
from torch import Tensor, nn

from mmdet.models.layers import SinePositionalEncoding
from mmdet.registry import MODELS
from mmdet.utils import ConfigType
from .transformer_decoder import OneFormerQueryDecoder

_DEFAULT_DECODER = dict(
    num_layers=2,
    layer_cfg=dict(
        self_attn_cfg=dict(
            embed_dims=256, num_heads=8, attn_drop=0.1, proj_drop=0.1),
        cross_attn_cfg=dict(
            embed_dims=256, num_heads=8, attn_drop=0.1, proj_drop=0.1),
        ffn_cfg=dict(
            embed_dims=256,
            feedforward_channels=2048,
            num_fcs=2,
            ffn_drop=0.1,
            act_cfg=dict(type='ReLU', inplace=True))),
    post_norm_cfg=dict(type='LN'))


@MODELS.register_module()
class OneFormerQueryInitialiser(BaseModule):
    """Builds the N task-conditioned object queries Q.

    mmdet's post-norm ``DetrTransformerDecoderLayer`` (self-attn -> norm ->
    cross-attn -> norm -> FFN -> norm, positions added to queries/keys only)
    has the released DETR decoder's math; ``OneFormerQueryDecoder`` runs it
    on (image, task) pairs.

    Args:
        in_channels (int): Channels of the stride-4 mask features.
        decoder (dict): ``DetrTransformerDecoder`` config (without
            ``return_intermediate``). Defaults to 2 post-norm layers, 8 heads,
            FFN 2048, dropout 0.1, final LayerNorm.
        positional_encoding (dict): ``SinePositionalEncoding`` config.
        init_cfg (dict, optional): Initialisation config.
    """

    def __init__(self,
                 in_channels: int = 256,
                 decoder: ConfigType = _DEFAULT_DECODER,
                 positional_encoding: ConfigType = dict(
                     num_feats=128, normalize=True),
                 init_cfg=None) -> None:
        super().__init__(init_cfg=init_cfg)
        # deepcopy: mmdet's layers write `batch_first` into their cfg dicts.
        self.decoder = OneFormerQueryDecoder(
            return_intermediate=False, **copy.deepcopy(decoder))
        self.embed_dims = self.decoder.embed_dims
        self.class_input_proj = Conv2d(
            in_channels, self.embed_dims, kernel_size=1)
        self.positional_encoding = SinePositionalEncoding(
            **positional_encoding)

    def init_weights(self) -> None:
        caffe2_xavier_init(self.class_input_proj, bias=0)
        for p in self.decoder.parameters():
            if p.dim() > 1:
                nn.init.xavier_uniform_(p)

    def forward(self,
                task_tokens: Tensor,
                mask_features: Tensor,
                query_pos: Tensor,
                num_tasks: int = 1) -> Tensor:
        """
        Args:
            task_tokens (Tensor): Task tokens already normed by the shared
                ``decoder_norm``, [B*T, C], image-major (see
                ``transformer_decoder``).
            mask_features (Tensor): Stride-4 mask features of the B images,
                [B, C_in, H, W].
            query_pos (Tensor): Query positions, rows 0..N-2 of the query
                embedding table, [N-1, C].
            num_tasks (int): T, task tokens per image.

        Returns:
            Tensor: Object queries [B*T, N, C]; the task token is the last one.
        """
        batch_size, _, h, w = mask_features.shape
        query = task_tokens.unsqueeze(1).expand(-1, query_pos.shape[0], -1)
        query_pos = query_pos.unsqueeze(0).expand(task_tokens.shape[0], -1,
                                                  -1)
        if not self.training:  # no attention dropout
            return self._with_task_token(self.decoder(
                query, query_pos, None, None, None, num_tasks,
                projected=self._projected_memory(mask_features)),
                task_tokens)
        # the sine encoding of an unpadded map is the same for every image:
        # one copy, broadcast (training on CPU projects it once)
        pos = self._encoding(mask_features, h, w)
        pos = pos.flatten(2).transpose(1, 2).contiguous().expand(
            batch_size, -1, -1)
        proj = self._projected_features(mask_features)
        # Released quirk, kept for weight compatibility: values are the sine
        # encoding and keys add the projected features on top of it.
        query = self.decoder(query, query_pos, key=pos, value=pos,
                             key_pos=proj, num_tasks=num_tasks)
        return self._with_task_token(query, task_tokens)

    @staticmethod
    def _with_task_token(query: Tensor, task_tokens: Tensor) -> Tensor:
        """[B*T, N-1, C] queries + [B*T, C] task tokens -> [B*T, N, C]."""
        return torch.cat([query, task_tokens.unsqueeze(1)], dim=1)

    def _projected_features(self, mask_features: Tensor) -> Tensor:
        """``class_input_proj`` (a 1x1 convolution) of mask features [B,
        C_in, h, w], as [B, h*w, C]: W x + b as one batched product on the
        flattened features, then a transposed view. The same math; torch's
        CPU 1x1 convolution takes about 1.4x as long and its backward about
        2x."""
        conv = self.class_input_proj
        weight = conv.weight.flatten(1)  # [C, C_in]
        return torch.baddbmm(
            _bias(conv.bias, weight)[:, None],
            weight.expand(mask_features.shape[0], -1, -1),
            mask_features.flatten(2)).transpose(1, 2)

    def _encoding(self, like: Tensor, h: int, w: int) -> Tensor:
        """The sine encoding [1, C, h, w] of an unpadded h x w map."""
        return self.positional_encoding(
            like.new_zeros((1, h, w), dtype=torch.bool))

    def _projected_memory(self,
                          mask_features: Tensor) -> List[Tuple[Tensor, Tensor]]:
        """Each decoder layer's cross-attention keys and values, in-projected
        [B, L, C]: the released keys W_k (pos + P x) + b_k (P the 1x1
        ``class_input_proj``) and values W_v pos + b_v, in fewer products.

        * The 1x1 projection is folded into every layer's key projection:
          (W_k P) x + W_k (pos + b_P) + b_k, one [L, C_in] x [C_in, C]
          product per layer instead of one for P plus one per layer.
        * The sine encoding ``pos`` [1, C, h, w] of an unpadded map is its
          row encoding (the first ``num_feats`` channels, the same along x)
          followed by its column encoding (the same along y), so W pos at
          (y, x) is W_row row(y) + W_col col(x): [h, C] and [w, C] products
          summed by broadcasting. The values need no [L, C] product at all.
          Each axis is normalised by its own length, so the rows are those
          of an h x 1 map's encoding and the columns those of a 1 x w map's.

        The same math; the rounding differs.
        """
        batch_size, _, h, w = mask_features.shape
        half = self.positional_encoding.num_feats
        rows = self._encoding(mask_features, h, 1)[0, :half, :, 0].t()
        cols = self._encoding(mask_features, 1, w)[0, half:, 0, :].t()
        conv = self.class_input_proj
        conv_weight = conv.weight.flatten(1)  # [C, C_in]
        conv_bias = _bias(conv.bias, conv_weight)
        features = mask_features.flatten(2).transpose(1, 2)  # [B, L, C_in]

        def encoded(weight: Tensor, bias: Tensor) -> Tensor:
            """weight @ pos + bias, [1, L, C]."""
            return (torch.addmm(bias, rows, weight[:, :half].t())[:, None] +
                    cols @ weight[:, half:].t()).view(1, h * w, -1)

        memories = []
        for layer in self.decoder.layers:
            attn = layer.cross_attn.attn
            _, key_weight, value_weight = attn.in_proj_weight.chunk(3)
            _, key_bias, value_bias = _bias(attn.in_proj_bias,
                                            attn.in_proj_weight).chunk(3)
            key_bias = key_bias + key_weight @ conv_bias
            keys = torch.baddbmm(
                encoded(key_weight, key_bias).expand(batch_size, -1, -1),
                features, (key_weight @ conv_weight).t().expand(
                    batch_size, -1, -1))
            values = encoded(value_weight, value_bias).expand(
                batch_size, -1, -1)
            memories.append((keys, values))
        return memories


def _bias(bias: Optional[Tensor], weight: Tensor) -> Tensor:
    """The bias of a layer with ``weight`` [C_out, C_in], zeros [C_out] for
    a layer without one."""
    return bias if bias is not None else weight.new_zeros(weight.shape[0])
