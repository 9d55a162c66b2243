"""OneFormer as an mmseg decode head: the semantic task of the mmdet model."""
from typing import List, Optional, Sequence, Tuple, Union

import numpy as np
import torch
import torch.nn.functional as F
from mmengine.config import ConfigDict
from mmengine.registry import DefaultScope
from torch import Tensor

from mmdet.registry import MODELS as MMDET_MODELS
from mmseg.datasets import CityscapesDataset
from mmseg.models.decode_heads import Mask2FormerHead as SegMask2FormerHead
from mmseg.registry import MODELS
from mmseg.utils import ConfigType, OptConfigType, SampleList
from ..datasets.ade20k import ADE20K_CATEGORIES
from ..datasets.transforms import OneFormerTaskSampling
from ..models import OneFormerHead
from ..models.fusion_head import semantic_inference
from ..models.oneformer_head import drop_keys
from ..models.strict_loading import check_missing_keys

#: Class names of the released text lists, in mmseg's label order. ADE20K's
#: released names are the raw ones ("road, route"), not mmseg's short ones;
#: mmseg's Cityscapes names are the released ones.
CLASS_NAMES = dict(
    ade20k=tuple(name for name, _, _ in ADE20K_CATEGORIES),
    cityscapes=tuple(CityscapesDataset.METAINFO['classes']))


@MODELS.register_module()
class OneFormerSegHead(OneFormerHead, SegMask2FormerHead):
    """OneFormer for mmseg's ``EncoderDecoder``, run with the semantic task.

    Like mmseg's ``Mask2FormerHead`` wraps mmdet's, this head is our mmdet
    :class:`OneFormerHead` plus mmseg's interface (``num_classes``,
    ``align_corners``, ``ignore_index``; targets built from ``gt_sem_seg``,
    one mask per class present). It also owns the modules the mmdet detector
    holds: the task-token encoder and, for training, the text mapper. Its
    state dict is the detector's with ``panoptic_head.`` -> ``decode_head.``
    and ``task_encoder.`` / ``text_mapper.`` -> ``decode_head.task_encoder.``
    / ``decode_head.text_mapper.`` (see ``converters.core.TARGET_PREFIXES``).

    Every sub-module is an mmdet module, built in mmdet's scope, so their
    configs are the mmdet OneFormer's (``CrossEntropyLoss`` is mmdet's, an
    ``mmdet.`` prefix is optional).

    Args:
        num_classes (int): Number of classes K.
        task_encoder (dict): ``TaskTokenEncoder`` config; ``embed_dims``
            defaults to ``feat_channels``.
        text_mapper (dict, optional): ``TextMapper`` config (training only,
            needs ``loss_contrastive`` and ``class_names``). When None it is
            not built and its checkpoint keys are ignored.
        class_names (str | Sequence[str], optional): Class names in label
            order for the text list, or a key of :data:`CLASS_NAMES`.
        text_template (str): Text of one mask. Defaults to 'a photo with a
            {}'.
        allow_missing_keys (sequence of str): key prefixes (relative to the
            head) a checkpoint may lack, for fine-tuning, e.g.
            ``['cls_embed.']``. Any other missing head tensor (text mapper and
            contrastive loss excepted) makes loading fail.
        **kwargs: ``OneFormerHead`` and mmseg ``Mask2FormerHead`` arguments,
            except ``num_things_classes`` / ``num_stuff_classes``.
    """

    def __init__(self,
                 num_classes: int,
                 task_encoder: ConfigType = dict(type='TaskTokenEncoder'),
                 text_mapper: OptConfigType = None,
                 class_names: Union[str, Sequence[str], None] = None,
                 text_template: str = 'a photo with a {}',
                 allow_missing_keys: Sequence[str] = (),
                 **kwargs) -> None:
        with DefaultScope.overwrite_default_scope('mmdet'):
            # Semantic segmentation has no things/stuff split; all K classes
            # are "things" so the mmdet head builds a K+1 classifier.
            super().__init__(
                num_classes=num_classes,
                num_things_classes=num_classes,
                num_stuff_classes=0,
                **kwargs)
            self.allow_missing_keys = tuple(allow_missing_keys)
            task_encoder = ConfigDict(task_encoder)
            task_encoder.setdefault('embed_dims', kwargs['feat_channels'])
            self.task_encoder = MMDET_MODELS.build(task_encoder)
            self.text_mapper = None
            if text_mapper is not None:
                self._init_texts(text_mapper, class_names, text_template)

    def _init_texts(self, text_mapper: ConfigType,
                    class_names: Union[str, Sequence[str], None],
                    text_template: str) -> None:
        """Build the text mapper and the released text rule's token table."""
        if self.loss_contrastive is None or class_names is None:
            raise ValueError('a text_mapper needs loss_contrastive '
                             '(QueryTextContrastiveLoss) and class_names')
        text_mapper = ConfigDict(text_mapper)
        text_mapper.setdefault('embed_dims', self.query_embed.embedding_dim)
        self.text_mapper = MMDET_MODELS.build(text_mapper)
        if isinstance(class_names, str):
            class_names = CLASS_NAMES[class_names]
        if len(class_names) != self.num_classes:
            raise ValueError(f'{len(class_names)} class names for '
                             f'{self.num_classes} classes')
        # N_text = N - N_ctx texts, so that with the context there are N.
        self.texts = OneFormerTaskSampling(
            num_texts=self.num_queries -
            self.text_mapper.prompt_ctx.num_embeddings,
            task='semantic',
            class_names=class_names,
            num_things_classes=self.num_classes,
            text_template=text_template,
            context_length=self.text_mapper.context_length)

    def _load_from_state_dict(self, state_dict: dict, prefix: str, *args,
                              **kwargs) -> None:
        if self.text_mapper is None:
            drop_keys(state_dict, prefix + 'text_mapper.')
        check_missing_keys(self, state_dict, prefix,
                           ('text_mapper.', 'loss_contrastive.'),
                           self.allow_missing_keys)
        super()._load_from_state_dict(state_dict, prefix, *args, **kwargs)

    def forward(self,
                x: Tuple[Tensor],
                all_predictions: bool = True
                ) -> Tuple[List[Tensor], List[Tensor], Tensor]:
        """``OneFormerHead.forward`` with the semantic task token.

        Args:
            x (tuple[Tensor]): Backbone features of B images, strides 4-32.
            all_predictions (bool): False at inference: only the final
                prediction (see ``OneFormerHead.forward``).

        Returns:
            tuple: class logits (``num_layers + 1`` x [B, N, K+1]), mask
            logits (``num_layers + 1`` x [B, N, H/4, W/4]) and the queries
            before the masked decoder [B, N, C].
        """
        task_tokens = self.task_encoder(['semantic'] * len(x[0]))
        return super().forward(
            x, task_tokens, all_predictions=all_predictions)

    def text_tokens(self, labels: Tensor) -> Tensor:
        """Released semantic text list of one image's classes [M] ->
        CLIP ids [N_text, L]: one text per class, in class order, padded
        with 'a semantic photo'."""
        ordered = np.sort(labels.cpu().numpy())[:self.texts.num_texts]
        return self.texts.text_tokens('semantic', ordered)

    def loss(self, x: Tuple[Tensor], batch_data_samples: SampleList,
             train_cfg: ConfigType) -> dict:
        """Mask2Former losses on ``gt_sem_seg`` (one mask per class) and,
        with a text mapper, the query-text contrastive loss."""
        batch_gt_instances, batch_img_metas = \
            self._seg_data_to_instance_data(batch_data_samples)
        all_cls_scores, all_mask_preds, queries = self(x)
        losses = self.loss_by_feat(all_cls_scores, all_mask_preds,
                                   batch_gt_instances, batch_img_metas)
        if self.text_mapper is not None:
            text_ids = torch.stack(
                [self.text_tokens(gt.labels) for gt in batch_gt_instances])
            losses['loss_contrastive'] = self.loss_contrastive(
                queries, self.text_mapper(text_ids.to(queries.device)))
        return losses

    def predict(self, x: Tuple[Tensor], batch_img_metas: List[dict],
                test_cfg: Optional[ConfigType]) -> Tensor:
        """Released semantic inference as mmseg seg logits [B, K, H, W].

        Sum over queries of softmax(class)[:-1] x sigmoid(mask), with the
        masks upsampled to the network input: the padded image, or in slide
        inference the crop (whose size mmseg writes into ``img_shape``).
        """
        cls_preds, mask_preds, _ = self(x, all_predictions=False)
        meta = batch_img_metas[0]
        slide = (test_cfg or {}).get('mode') == 'slide'
        size = meta['img_shape'] if slide else meta.get(
            'pad_shape', meta['img_shape'])
        mask_pred = F.interpolate(
            mask_preds[-1],
            size=tuple(size[:2]),
            mode='bilinear',
            align_corners=False)
        return semantic_inference(cls_preds[-1], mask_pred)
