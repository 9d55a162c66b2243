"""Text mapper (paper Sec. 3.2, Fig. 4): texts -> N text queries Q_text.

Training only: it feeds the query-text contrastive loss and is dropped at
inference.
"""
from typing import Sequence

import open_clip
import torch
from mmengine.model import BaseModule
from open_clip.transformer import QuickGELU, TextTransformer
from torch import Tensor, nn

from mmdet.registry import MODELS

# The released text encoder: CLIP-style, 6 layers, width 256, 4 heads.
_TEXT_ENCODER = dict(
    context_length=77, vocab_size=49408, width=256, heads=4, layers=6)


@MODELS.register_module()
class TextMapper(BaseModule):
    """CLIP-style causal text encoder + 2-layer projector + learnable context.

    Args:
        embed_dims (int): Width C of the text queries (the decoder width).
        text_encoder (dict): open_clip ``TextTransformer`` size arguments
            (``context_length``, ``vocab_size``, ``width``, ``heads``,
            ``layers``), merged into the released ones. The context
            embeddings have the encoder width and are concatenated with the
            projected texts, so ``width`` must equal ``embed_dims``.
        num_context (int): Learnable context embeddings N_ctx.
        init_cfg (dict, optional): Initialisation config.
    """

    def __init__(self,
                 embed_dims: int = 256,
                 text_encoder: dict = _TEXT_ENCODER,
                 num_context: int = 16,
                 init_cfg=None) -> None:
        super().__init__(init_cfg=init_cfg)
        text_encoder = {**_TEXT_ENCODER, **text_encoder}
        width = text_encoder['width']
        if width != embed_dims:
            raise ValueError(f'Text encoder width ({width}) must equal '
                             f'embed_dims ({embed_dims}): the context '
                             'embeddings are concatenated with the projected '
                             'texts.')
        self.context_length = text_encoder['context_length']
        # Causal mask, QuickGELU, end-token (argmax id) pooling; output_dim
        # None: no text projection, the pooled feature has `width` channels.
        self.text_encoder = TextTransformer(
            **text_encoder,
            output_dim=None,
            act_layer=QuickGELU,
            pool_type='argmax')
        self.text_projector = nn.Sequential(
            nn.Linear(width, embed_dims), nn.ReLU(inplace=True),
            nn.Linear(embed_dims, embed_dims))
        self.prompt_ctx = nn.Embedding(num_context, width)

    def tokenize(self, texts: Sequence[Sequence[str]]) -> Tensor:
        """Per-image text lists (B x N_text strings) -> ids [B, N_text, L]."""
        return torch.stack([
            open_clip.tokenize(list(t), context_length=self.context_length)
            for t in texts
        ]).to(self.prompt_ctx.weight.device)

    def forward(self, text_ids: Tensor) -> Tensor:
        """Text ids [B, N_text, L] -> text queries [B, N_text + N_ctx, C].

        The encoder treats every sequence on its own and most of a batch's
        texts repeat (the padding sentence above all), so each distinct text
        is encoded once and gathered: the same values and gradients.
        """
        batch_size, num_text, length = text_ids.shape
        distinct, index = torch.unique(
            text_ids.reshape(-1, length), dim=0, return_inverse=True)
        feats = self.text_projector(self.text_encoder(distinct))[index]
        feats = feats.view(batch_size, num_text, -1)
        ctx = self.prompt_ctx.weight.unsqueeze(0).expand(batch_size, -1, -1)
        return torch.cat([feats, ctx], dim=1)
