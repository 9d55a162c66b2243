"""OneFormer as an mmseg decode head: the semantic task of the mmdet model."""
from typing import List, Optional, Sequence, Tuple, Union

import torch
import torch.nn.functional as F
from mmengine.registry import DefaultScope
from torch import Tensor

from mmseg.datasets import CityscapesDataset
from mmseg.models.decode_heads import Mask2FormerHead as SegMask2FormerHead
from mmseg.registry import MODELS
from mmseg.utils import ConfigType, SampleList
from ..datasets.ade20k import ADE20K_CATEGORIES
from ..datasets.text_list import TextList
from ..models import OneFormerHead
from ..models.fusion_head import semantic_inference
from ..models.strict_loading import check_missing_keys, drop_mismatched_keys

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
    :class:`OneFormerHead` (task encoder, text mapper and contrastive loss
    included) plus mmseg's interface (``num_classes``, ``align_corners``,
    ``ignore_index``); it only adapts the targets: one mask per class present
    in ``gt_sem_seg``, and their semantic text list. Its state dict is the
    detector's with ``panoptic_head.`` -> ``decode_head.`` (see
    ``converters.core.TARGET_PREFIXES``).

    Every sub-module is an mmdet module, built in mmdet's scope, so their
    configs are the mmdet OneFormer's (``CrossEntropyLoss`` is mmdet's, an
    ``mmdet.`` prefix is optional).

    Args:
        num_classes (int): Number of classes K.
        class_names (str | Sequence[str], optional): Class names in label
            order for the text list (needed with a ``text_mapper``), or a key
            of :data:`CLASS_NAMES`. mmseg's ADE20K and Cityscapes labels are
            in the release's class order.
        text_template (str): Text of one mask. Defaults to 'a photo with a
            {}'.
        allow_missing_keys (sequence of str): key prefixes (relative to the
            head) a checkpoint may lack, for fine-tuning, e.g.
            ``['cls_embed.']``. Any other missing head tensor (text mapper and
            contrastive loss excepted) makes loading fail.
        **kwargs: ``OneFormerHead`` and mmseg ``Mask2FormerHead`` arguments,
            except ``num_things_classes`` / ``num_stuff_classes``.
    """

    FINETUNE_KEY = "model.decode_head.allow_missing_keys=['cls_embed.']"

    def __init__(self,
                 num_classes: int,
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
        self.text_list = None
        if self.text_mapper is not None:
            if class_names is None:
                raise ValueError('a text_mapper needs class_names')
            if isinstance(class_names, str):
                class_names = CLASS_NAMES[class_names]
            if len(class_names) != self.num_classes:
                raise ValueError(f'{len(class_names)} class names for '
                                 f'{self.num_classes} classes')
            self.text_list = TextList(
                class_names, template=text_template,
                context_length=self.text_mapper.context_length)

    def _load_from_state_dict(self, state_dict: dict, prefix: str, *args,
                              **kwargs) -> None:
        drop_mismatched_keys(self, state_dict, prefix, self.allow_missing_keys)
        check_missing_keys(self, state_dict, prefix, self.TRAINING_ONLY,
                           self.allow_missing_keys)
        super()._load_from_state_dict(state_dict, prefix, *args, **kwargs)

    def forward(self,
                x: Tuple[Tensor],
                all_predictions: bool = True
                ) -> Tuple[List[Tensor], List[Tensor], Tensor]:
        """``OneFormerHead.forward`` with the semantic task.

        Args:
            x (tuple[Tensor]): Backbone features of B images, strides 4-32.
            all_predictions (bool): False at inference: only the final
                prediction (see ``OneFormerHead.forward``).

        Returns:
            tuple: class logits (``num_layers + 1`` x [B, N, K+1]), mask
            logits (``num_layers + 1`` x [B, N, H/4, W/4]) and the queries
            before the masked decoder [B, N, C].
        """
        return super().forward(
            x, ['semantic'] * len(x[0]), all_predictions=all_predictions)

    def loss(self, x: Tuple[Tensor], batch_data_samples: SampleList,
             train_cfg: ConfigType) -> dict:
        """Mask2Former losses on ``gt_sem_seg`` (one mask per class) and,
        with a text mapper, the query-text contrastive loss on the semantic
        text lists (one text per class present)."""
        batch_gt_instances, batch_img_metas = \
            self._seg_data_to_instance_data(batch_data_samples)
        all_cls_scores, all_mask_preds, queries = self(x)
        losses = self.loss_by_feat(all_cls_scores, all_mask_preds,
                                   batch_gt_instances, batch_img_metas)
        if self.text_mapper is not None:
            text_tokens = torch.stack([
                self.text_list.tokens('semantic', gt.labels.cpu().numpy(),
                                      self.num_texts)
                for gt in batch_gt_instances
            ])
            losses['loss_contrastive'] = self.contrastive_loss(
                queries, text_tokens)
        return losses

    def predict(self, x: Tuple[Tensor], batch_img_metas: List[dict],
                test_cfg: Optional[ConfigType]) -> Tensor:
        """Released semantic inference as mmseg seg logits [B, K, H, W]
        (see :meth:`semantic_scores`)."""
        cls_preds, mask_preds, _ = self(x, all_predictions=False)
        return self.semantic_scores(cls_preds[-1], mask_preds[-1],
                                    batch_img_metas, test_cfg)

    @staticmethod
    def semantic_scores(cls_pred: Tensor, mask_pred: Tensor,
                        batch_img_metas: List[dict],
                        test_cfg: Optional[ConfigType]) -> Tensor:
        """Sum over queries of softmax(class)[:-1] x sigmoid(mask), with the
        masks upsampled to the network input: the padded image, or in slide
        inference the crop (whose size mmseg writes into ``img_shape``).

        Args:
            cls_pred (Tensor): Class logits [B, N, K+1].
            mask_pred (Tensor): Mask logits [B, N, H/4, W/4] (this head's
                forward or an exported graph's).

        Returns:
            Tensor: Scores [B, K, H, W].
        """
        meta = batch_img_metas[0]
        slide = (test_cfg or {}).get('mode') == 'slide'
        size = meta['img_shape'] if slide else meta.get(
            'pad_shape', meta['img_shape'])
        mask_pred = F.interpolate(
            mask_pred,
            size=tuple(size[:2]),
            mode='bilinear',
            align_corners=False)
        return semantic_inference(cls_pred, mask_pred)
