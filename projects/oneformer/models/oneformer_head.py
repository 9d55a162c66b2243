"""OneFormer head: pixel decoder + task-conditioned masked decoder."""
import copy
import functools
from typing import List, Optional, Sequence, Tuple, Union

import torch
import torch.nn.functional as F
from mmcv.ops import MultiScaleDeformableAttention
from torch import Tensor, nn

from mmdet.models.dense_heads import Mask2FormerHead
from mmdet.registry import MODELS
from mmdet.structures import SampleList
from mmdet.utils import ConfigType, OptConfigType
from .strict_loading import drop_keys
from .transformer_decoder import (OneFormerTransformerDecoder,
                                  blocked_where_negative, group_tasks,
                                  unblock_full_rows, ungroup_tasks)


@MODELS.register_module()
class OneFormerHead(Mask2FormerHead):
    """Mask2Former head whose initial queries come from the task token.

    Differences from ``Mask2FormerHead``: there is a single query table
    (``query_embed``, N x C) and no ``query_feat``; the initial queries are
    built by ``query_initialiser`` from the task token, which is first normed
    by ``decoder_norm`` (the masked decoder's ``post_norm``, the same module
    the class/mask heads use). Predictions are made on the initial queries
    and after every decoder layer (``num_layers + 1`` of them). The head owns
    the task-token encoder and, for training, the text mapper and the
    query-text contrastive loss, as mmdet heads own their losses.

    Args:
        query_initialiser (dict): ``OneFormerQueryInitialiser`` config; its
            ``in_channels`` defaults to ``out_channels`` (mask feature width).
        task_encoder (dict): ``TaskTokenEncoder`` config; ``embed_dims``
            defaults to ``feat_channels``.
        text_mapper (dict, optional): ``TextMapper`` config (training only;
            needs ``loss_contrastive``, and every training sample
            ``text_tokens``). When None it is not built and its checkpoint
            keys are ignored.
        loss_contrastive (dict, optional): ``QueryTextContrastiveLoss`` config
            (training only). When None it is not built and its checkpoint
            keys are ignored.
        **kwargs: ``Mask2FormerHead`` arguments.
    """

    #: modules only training uses: a checkpoint for inference may lack them
    TRAINING_ONLY = ('text_mapper.', 'loss_contrastive.')
    #: the fine-tuning switch of mmdet's tools, named in the class-count error
    FINETUNE_KEY = "model.allow_missing_keys=['panoptic_head.cls_embed.']"

    def __init__(self,
                 query_initialiser: ConfigType = dict(
                     type='OneFormerQueryInitialiser'),
                 task_encoder: ConfigType = dict(type='TaskTokenEncoder'),
                 text_mapper: OptConfigType = None,
                 loss_contrastive: OptConfigType = None,
                 **kwargs) -> None:
        super().__init__(**kwargs)
        del self.query_feat
        # mmdet builds the decoder with its own layer class: the same layers,
        # run on (image, task) pairs, with the same initial values and without
        # shifting the random draws of what follows
        built = self.transformer_decoder
        with torch.random.fork_rng(devices=[]):
            self.transformer_decoder = OneFormerTransformerDecoder(
                **kwargs['transformer_decoder'])
        self.transformer_decoder.load_state_dict(built.state_dict())
        query_initialiser = copy.deepcopy(query_initialiser)
        query_initialiser.setdefault('in_channels', kwargs['out_channels'])
        self.query_initialiser = MODELS.build(query_initialiser)
        self.loss_contrastive = None
        if loss_contrastive is not None:
            self.loss_contrastive = MODELS.build(loss_contrastive)
        task_encoder = copy.deepcopy(task_encoder)
        task_encoder.setdefault('embed_dims', kwargs['feat_channels'])
        self.task_encoder = MODELS.build(task_encoder)
        self.text_mapper = None
        if text_mapper is not None:
            if self.loss_contrastive is None:
                raise ValueError('a text_mapper needs panoptic_head.'
                                 'loss_contrastive (QueryTextContrastiveLoss)')
            text_mapper = copy.deepcopy(text_mapper)
            text_mapper.setdefault('embed_dims', kwargs['feat_channels'])
            self.text_mapper = MODELS.build(text_mapper)

    @property
    def decoder_norm(self) -> nn.Module:
        """LayerNorm shared by the prediction heads and the task token."""
        return self.transformer_decoder.post_norm

    def init_weights(self) -> None:
        """The released initialisation.

        mmdet's ``Mask2FormerHead.init_weights`` draws every matrix of the
        masked decoder and of the pixel decoder's deformable encoder with
        ``xavier_normal_``. The release draws them with ``xavier_uniform_``
        (``_reset_parameters`` of its self-/cross-attention and FFN layers and
        of ``MSDeformAttnTransformerEncoderOnly``), the latter followed by the
        deformable attentions' own reset (zero offsets and attention weights,
        the offset grid as bias, xavier-uniform value/output projections);
        those are redrawn here. Everything else (1x1 projections, lateral and
        output convs, ``normal_`` level encoding, default ``nn.Linear`` /
        ``nn.Embedding`` init of the heads and tables) already matches. The
        query initialiser (the released class transformer) inits itself.
        """
        super().init_weights()
        encoder = getattr(self.pixel_decoder, 'encoder', None)
        if encoder is not None:
            for p in encoder.parameters():
                if p.dim() > 1:
                    nn.init.xavier_uniform_(p)
            for m in encoder.modules():
                if isinstance(m, MultiScaleDeformableAttention):
                    m.init_weights()
        for p in self.transformer_decoder.parameters():
            if p.dim() > 1:
                nn.init.xavier_uniform_(p)
        self.query_initialiser.init_weights()

    def _load_from_state_dict(self, state_dict: dict, prefix: str, *args,
                              **kwargs) -> None:
        # A silently skipped classifier would give a model that looks loaded
        # but predicts garbage, so a class-count mismatch is an error.
        weight = state_dict.get(prefix + 'cls_embed.weight')
        if weight is not None and weight.shape[0] != self.num_classes + 1:
            raise ValueError(
                f'Checkpoint has {weight.shape[0] - 1} classes '
                f'(cls_embed has {weight.shape[0]} rows incl. no-object) but '
                f'the model has {self.num_classes} classes '
                f'({self.num_things_classes} things + '
                f'{self.num_stuff_classes} stuff). To fine-tune on this class '
                'set, train with tools/train.py --finetune (or finetune = True '
                "in the config; with mmdet's or mmseg's own tools set "
                f'{self.FINETUNE_KEY}): the classifier is then trained anew.')
        for name in self.TRAINING_ONLY:
            if getattr(self, name[:-1]) is None:
                drop_keys(state_dict, prefix + name)
        super()._load_from_state_dict(state_dict, prefix, *args, **kwargs)

    def forward(
        self,
        x: Tuple[Tensor],
        tasks: Union[Sequence[str], Tensor],
        num_tasks: int = 1,
        all_predictions: bool = True
    ) -> Tuple[List[Tensor], List[Tensor], Tensor]:
        """Task token -> pixel decoder -> query initialiser -> masked decoder
        -> predictions.

        Args:
            x (tuple[Tensor]): Backbone features of B images, strides 4-32.
            tasks (Sequence[str] | Tensor): The task of each (image, task)
                pair, B*T, T per image, image-major (pair b * T + t is task t
                of image b): names, or indices in ``TASKS`` as a LongTensor
                (an exported graph's task input). The backbone and pixel
                decoder run once per image; see ``transformer_decoder`` for
                how the tasks share the decoder.
            num_tasks (int): T. Defaults to 1.
            all_predictions (bool): Return the ``num_layers + 1`` predictions
                (training: the first ones are auxiliary). When False (inference)
                only the final one is made at stride 4; the attention masks
                between layers come from mask features resized to each level
                once per image (see :meth:`_attention_mask`).

        Returns:
            tuple: ``cls_preds`` (list of tensors [B*T, N, K+1]),
            ``mask_preds`` (list of [B*T, N, H/4, W/4]) and the contrastive
            queries, i.e. the N queries before the masked decoder [B*T, N, C].
        """
        # The released pixel decoder runs in fp32 even under AMP.
        with torch.autocast(x[0].device.type, enabled=False):
            mask_features, memories = self.pixel_decoder(
                [f.float() for f in x])
        levels = [self._decoder_memory(memory, i)
                  for i, memory in enumerate(memories)]

        query_embed = self.query_embed.weight
        queries = self.query_initialiser(
            self.decoder_norm(self.task_encoder(tasks)), mask_features,
            query_embed[:-1], num_tasks)
        query_pos = query_embed.unsqueeze(0).expand(queries.shape[0], -1, -1)

        cls_preds, mask_preds = [], []
        if all_predictions:
            mask_fn = functools.partial(
                self._predict_with_mask, mask_features=mask_features,
                sizes=[m.shape[-2:] for m in memories], num_tasks=num_tasks,
                out=(cls_preds, mask_preds))
        else:
            # torch's CPU bilinear resize of many channels runs on
            # channels-last data and would convert the features at every
            # call: convert them once (the same values)
            features = mask_features.contiguous(
                memory_format=torch.channels_last)
            mask_fn = functools.partial(
                self._attention_mask, num_tasks=num_tasks,
                level_features=[
                    F.interpolate(features, m.shape[-2:], mode='bilinear',
                                  align_corners=False) for m in memories])
        query = self.transformer_decoder(queries, query_pos, levels, mask_fn,
                                         num_tasks, final_mask=all_predictions)
        if not all_predictions:
            query = self.decoder_norm(query)
            # a matmul on the flattened features: einsum would copy them
            mask_pred = torch.bmm(
                group_tasks(self.mask_embed(query), num_tasks),
                mask_features.flatten(2))
            cls_preds.append(self.cls_embed(query))
            mask_preds.append(
                ungroup_tasks(mask_pred, num_tasks).unflatten(
                    -1, mask_features.shape[-2:]))
        return cls_preds, mask_preds, queries

    def _decoder_memory(self, memory: Tensor,
                        level: int) -> Tuple[Tensor, Tensor]:
        """One pixel-decoder level [B, C, h, w] as the masked decoder's
        memory: projected, plus the level embedding [B, h*w, C], and its sine
        positions [B, h*w, C]."""
        feat = self.decoder_input_projs[level](memory).flatten(2).transpose(
            1, 2)
        pos = self.decoder_positional_encoding(
            memory.new_zeros((memory.shape[0], ) + memory.shape[-2:],
                             dtype=torch.bool))
        return (feat + self.level_embed.weight[level],
                pos.flatten(2).transpose(1, 2))

    def _predict_with_mask(self, query: Tensor, level: int, *,
                           mask_features: Tensor, sizes: List, num_tasks: int,
                           out: Tuple[List, List]) -> Tensor:
        """Training: Mask2Former's prediction heads on an image's T*N queries
        at once (predictions appended to ``out``) and the attention mask on
        ``level`` from the stride-4 mask logits, as released, in the grouped
        layout the cross-attention needs."""
        cls_pred, mask_pred, blocked = self._forward_head(
            group_tasks(query, num_tasks), mask_features, sizes[level])
        out[0].append(ungroup_tasks(cls_pred, num_tasks))
        out[1].append(ungroup_tasks(mask_pred, num_tasks))
        return unblock_full_rows(blocked)

    def _attention_mask(self, query: Tensor, level: int, *,
                        level_features: List[Tensor],
                        num_tasks: int = 1) -> Tensor:
        """Inference: masked-attention mask of pair queries [B*T, N, C] on
        one level.

        The released mask is sigmoid(resize(mask logits)) < 0.5 with the
        logits at stride 4. Bilinear resizing is linear in the features, so
        resize(embed . features) = embed . resize(features): the logits are
        computed directly at the level's size, from ``level_features[level]``
        [B, C, h, w] resized once per image, and sigmoid(l) < 0.5 is l < 0.
        Same math, rounding aside, without the stride-4 masks.

        Returns:
            Tensor: Bool [B, 1, T*N, h*w] (the same for every head), True =
            blocked, grouped by image; a query whose mask blocks every key is
            unblocked.
        """
        mask_embed = self.mask_embed(
            self.decoder_norm(group_tasks(query, num_tasks)))
        return blocked_where_negative(torch.matmul(
            mask_embed, level_features[level].flatten(2))).unsqueeze(1)

    def loss(self, x: Tuple[Tensor], batch_data_samples: SampleList,
             tasks: Sequence[str]) -> dict:
        """Losses of Eq. 2 for the given task of each image.

        Class, mask and dice losses (Mask2Former's, on all ``num_layers + 1``
        predictions) against the task's targets in ``gt_instances``; with a
        text mapper also the query-text contrastive loss between the queries
        before the masked decoder and the text queries of every sample's
        ``text_tokens``.
        """
        batch_img_metas = [s.metainfo for s in batch_data_samples]
        text_tokens = None
        if self.text_mapper is not None:
            if not all('text_tokens' in s for s in batch_data_samples):
                raise ValueError(
                    'training with a text mapper needs text_tokens in every '
                    'data sample: add OneFormerTaskSampling and '
                    'PackOneFormerInputs to the train pipeline')
            text_tokens = torch.stack(
                [s.text_tokens for s in batch_data_samples])
            self._check_num_texts(text_tokens.shape[1])
        all_cls_scores, all_mask_preds, queries = self(x, tasks)
        batch_gt_instances = self.preprocess_gt(
            [s.gt_instances for s in batch_data_samples],
            [s.gt_sem_seg if 'gt_sem_seg' in s else None
             for s in batch_data_samples])
        losses = self.loss_by_feat(all_cls_scores, all_mask_preds,
                                   batch_gt_instances, batch_img_metas)
        if text_tokens is not None:
            losses['loss_contrastive'] = self.contrastive_loss(
                queries, text_tokens)
        return losses

    @property
    def num_texts(self) -> Optional[int]:
        """N_text: the queries the text mapper's context embeddings leave
        (None without a text mapper)."""
        if self.text_mapper is None:
            return None
        return self.num_queries - self.text_mapper.prompt_ctx.num_embeddings

    def contrastive_loss(self, queries: Tensor, text_tokens: Tensor) -> Tensor:
        """Query-text contrastive loss (Eq. 1) of queries [B, N, C] and the
        images' text lists, CLIP ids [B, N_text, L]."""
        return self.loss_contrastive(
            queries, self.text_mapper(text_tokens.to(queries.device)))

    def _check_num_texts(self, num_texts: int) -> None:
        """The text list fills the queries the context embeddings leave."""
        if num_texts != self.num_texts:
            raise ValueError(
                f'The training text lists have {num_texts} texts but the model '
                f'needs num_queries - num_context = {self.num_queries} - '
                f'{self.num_queries - self.num_texts} = {self.num_texts}: set '
                f'train_dataloader.dataset.num_texts={self.num_texts} (or '
                'num_texts of OneFormerTaskSampling), or change '
                'model.panoptic_head.num_queries / '
                'model.panoptic_head.text_mapper.num_context.')

    def predict(self,
                x: Tuple[Tensor],
                batch_data_samples: SampleList,
                tasks: Sequence[str],
                num_tasks: int = 1) -> Tuple[Tensor, Tensor]:
        """Final predictions at stride 4; the fusion head upsamples them.

        Returns:
            tuple: class logits [B*T, N, K+1] and mask logits [B*T, N, H/4,
            W/4] (see :meth:`forward` for T and the pair order).
        """
        cls_preds, mask_preds, _ = self(
            x, tasks, num_tasks, all_predictions=False)
        return cls_preds[-1], mask_preds[-1]
