"""Task-guided query initialisation, the released "class transformer".

Paper Sec. 3.2: N-1 repetitions of the task token are refined by a 2-layer
transformer decoder attending to the stride-4 features, and the task token is
appended as the last query.
"""
import copy

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
        # the sine encoding of an unpadded map is the same for every image:
        # one [1, L, C] copy, broadcast (training on CPU projects it once)
        pos = self.positional_encoding(
            mask_features.new_zeros((1, h, w), dtype=torch.bool))
        pos = pos.flatten(2).transpose(1, 2).contiguous().expand(
            batch_size, -1, -1)
        proj = self.class_input_proj(mask_features).flatten(2).transpose(1, 2)
        query = task_tokens.unsqueeze(1).expand(-1, query_pos.shape[0], -1)
        query_pos = query_pos.unsqueeze(0).expand(task_tokens.shape[0], -1,
                                                  -1)
        # Released quirk, kept for weight compatibility: values are the sine
        # encoding and keys add the projected features on top of it.
        query = self.decoder(query, query_pos, key=pos, value=pos,
                             key_pos=proj, num_tasks=num_tasks)
        return torch.cat([query, task_tokens.unsqueeze(1)], dim=1)
