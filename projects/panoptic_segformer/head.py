"""Panoptic SegFormer head: Deformable DETR location head + mask decoders."""
from typing import Dict, List, Tuple

import torch
import torch.nn.functional as F
from mmcv.cnn import Linear
from mmengine.model import bias_init_with_prob
from mmengine.structures import InstanceData, PixelData
from torch import Tensor, nn

from mmdet.evaluation.functional import INSTANCE_OFFSET
from mmdet.models.dense_heads import DeformableDETRHead
from mmdet.registry import MODELS, TASK_UTILS
from mmdet.structures import SampleList
from mmdet.structures.bbox import bbox_cxcywh_to_xyxy
from mmdet.utils import reduce_mean
from .mask_wise_merging import mask_quality_scores, mask_wise_merge


def _upsample2x(masks: Tensor) -> Tensor:
    """(N, h, w) -> (N, 2h, 2w): 1/8 masks to the 1/4 scale of the loss."""
    return F.interpolate(masks[None], scale_factor=2., mode='bilinear',
                         align_corners=False)[0]


def _resize(masks: Tensor, size) -> Tensor:
    """Bilinear resize of (N, h, w) float masks."""
    return F.interpolate(masks[None].float(), size=tuple(size),
                         mode='bilinear', align_corners=False)[0]


@MODELS.register_module()
class PanopticSegFormerHead(DeformableDETRHead):
    """Location decoder head on things + thing/stuff mask decoders.

    The location part is mmdet's ``DeformableDETRHead`` on the thing classes
    only (focal class, L1 and GIoU losses on every decoder layer). On the
    last layer the ``filter_assigner`` keeps up to 3 queries per thing; they
    go to the thing mask decoder, where a second Hungarian matching with a
    dice cost (``mask_assigner``) picks the query supervised by each mask.
    Stuff uses one learned query per stuff class (content + position,
    ``stuff_query``: (num_stuff, 2C)) and a 1-logit presence classifier per
    stuff decoder layer. Masks are supervised by a V-Net dice (no sigmoid:
    the masks are ReLU outputs) at 1/4 scale after every layer. Thing losses
    (location ones included) are scaled by the share of thing segments in
    the batch, stuff losses by the share of stuff segments.

    Released-code choices kept: the location loss of the last layer uses
    the first (one-to-one) round of the filter matching, i.e. the plain
    Hungarian matching; the released class/box branches of the thing mask
    decoder are trained with weight 0 and unused at inference, so they are
    not built (the converter drops them); the stuff presence loss is the
    head's focal loss (weight 2) times 2 in the release, i.e. weight 4.

    Args:
        num_things_classes (int): thing classes (the location classes).
        num_stuff_classes (int): stuff classes (one query each).
        thing_mask_decoder (dict): ``PanopticSegFormerMaskDecoder`` config.
        stuff_mask_decoder (dict): same, with ``self_attn=True``.
        loss_mask (dict): dice loss on the raw masks.
        loss_stuff_cls (dict): presence loss of the stuff queries.
        train_cfg (dict): ``assigner`` (location), ``filter_assigner`` and
            ``mask_assigner``.
        test_cfg (dict): ``max_per_img``, ``mask_thr``, ``score_thrs`` and
            ``overlap_thrs`` as (things, stuff).
    """

    def __init__(self,
                 *args,
                 num_things_classes: int = 80,
                 num_stuff_classes: int = 53,
                 thing_mask_decoder: dict = dict(
                     type='PanopticSegFormerMaskDecoder', num_layers=4),
                 stuff_mask_decoder: dict = dict(
                     type='PanopticSegFormerMaskDecoder', num_layers=6,
                     self_attn=True),
                 loss_mask: dict = dict(
                     type='DiceLoss', use_sigmoid=False, activate=False,
                     naive_dice=False, loss_weight=2.0),
                 loss_stuff_cls: dict = dict(
                     type='FocalLoss', use_sigmoid=True, gamma=2.0,
                     alpha=0.25, loss_weight=4.0),
                 **kwargs) -> None:
        self.num_things_classes = num_things_classes
        self.num_stuff_classes = num_stuff_classes
        self.thing_mask_decoder_cfg = thing_mask_decoder
        self.stuff_mask_decoder_cfg = stuff_mask_decoder
        kwargs.setdefault('num_classes', num_things_classes)
        assert kwargs['num_classes'] == num_things_classes, \
            'the location decoder classifies things only'
        super().__init__(*args, **kwargs)
        self.loss_mask = MODELS.build(loss_mask)
        self.loss_stuff_cls = MODELS.build(loss_stuff_cls)
        if self.train_cfg:
            self.filter_assigner = TASK_UTILS.build(
                self.train_cfg['filter_assigner'])
            self.mask_assigner = TASK_UTILS.build(
                self.train_cfg['mask_assigner'])

    def _init_layers(self) -> None:
        super()._init_layers()
        self.thing_mask_decoder = MODELS.build(
            dict(embed_dims=self.embed_dims, **self.thing_mask_decoder_cfg))
        self.stuff_mask_decoder = MODELS.build(
            dict(embed_dims=self.embed_dims, **self.stuff_mask_decoder_cfg))
        self.num_mask_levels = self.thing_mask_decoder.num_levels
        self.stuff_query = nn.Embedding(self.num_stuff_classes,
                                        self.embed_dims * 2)
        self.cls_stuff_branches = nn.ModuleList(
            Linear(self.embed_dims, 1)
            for _ in range(len(self.stuff_mask_decoder.layers)))

    def init_weights(self) -> None:
        # DeformableDETRHead.init_weights does not recurse into children.
        super().init_weights()
        self.thing_mask_decoder.init_weights()
        self.stuff_mask_decoder.init_weights()
        for m in self.cls_stuff_branches:
            nn.init.constant_(m.bias, bias_init_with_prob(0.01))

    def forward(self, hidden_states: Tensor, references: List[Tensor],
                **kwargs) -> Tuple[Tensor, Tensor]:
        """Location outputs; extra inputs (memory ...) are for the masks."""
        return super().forward(hidden_states, references)

    # ------------------------------------------------------------ inputs
    def _mask_memory(self, memory: Tensor, spatial_shapes: Tensor):
        """Memory (B, L, C) of the first ``num_mask_levels`` levels (strides
        8, 16, 32; the extra level is left out) and their shapes."""
        shapes = [(int(h), int(w))
                  for h, w in spatial_shapes[:self.num_mask_levels]]
        return memory[:, :sum(h * w for h, w in shapes)], shapes

    def _split_gt(self, sample) -> Tuple[InstanceData, InstanceData]:
        """Thing instances (labels, bboxes, bool masks (n, H, W) at the batch
        input size) and stuff segments (labels, masks) of the semantic map."""
        pad_h, pad_w = sample.batch_input_shape
        gt = sample.gt_instances
        device = gt.labels.device
        keep = gt.labels < self.num_things_classes
        masks = gt.masks
        if not isinstance(masks, Tensor):
            masks = masks.to_tensor(dtype=torch.bool, device=device)
        masks = masks.bool()
        masks = F.pad(masks, (0, pad_w - masks.shape[-1], 0,
                              pad_h - masks.shape[-2]))
        things = InstanceData(
            labels=gt.labels[keep], bboxes=gt.bboxes[keep], masks=masks[keep])
        sem = sample.gt_sem_seg.sem_seg[0].to(device)
        sem = F.pad(sem, (0, pad_w - sem.shape[-1], 0, pad_h - sem.shape[-2]),
                    value=255)
        present = [
            c for c in sem.unique().tolist() if self.num_things_classes <= c <
            self.num_things_classes + self.num_stuff_classes
        ]
        labels = torch.tensor(present, dtype=torch.long, device=device)
        stuff = InstanceData(
            labels=labels, masks=sem[None] == labels[:, None, None])
        return things, stuff

    @staticmethod
    def _abs_boxes(coords: Tensor, img_meta: dict) -> Tensor:
        """(N, 4) normalised cxcywh -> absolute xyxy of the image."""
        img_h, img_w = img_meta['img_shape']
        return bbox_cxcywh_to_xyxy(coords) * coords.new_tensor(
            [img_w, img_h, img_w, img_h])

    # -------------------------------------------------------------- loss
    def loss(self, hidden_states: Tensor, references: List[Tensor],
             enc_outputs_class: Tensor, enc_outputs_coord: Tensor,
             memory: Tensor, spatial_shapes: Tensor,
             batch_data_samples: SampleList, **kwargs) -> Dict[str, Tensor]:
        """
        Args:
            hidden_states (Tensor): (num_layers, B, Q, C) location decoder.
            references (list[Tensor]): decoder references, see mmdet.
            memory (Tensor): (B, L, C) encoder output, all levels.
            spatial_shapes (Tensor): (num_levels, 2).
        """
        metas = [s.metainfo for s in batch_data_samples]
        things, stuff = zip(*[self._split_gt(s) for s in batch_data_samples])
        all_cls, all_coords = self(hidden_states, references)
        losses = self.loss_by_feat(all_cls, all_coords, enc_outputs_class,
                                   enc_outputs_coord, list(things), metas)
        mem, shapes = self._mask_memory(memory, spatial_shapes)
        num_things = self._num_avg(sum(len(t) for t in things), memory)
        num_stuff = self._num_avg(sum(len(s) for s in stuff), memory)
        losses.update(
            self.thing_mask_loss(all_cls[-1], all_coords[-1],
                                 hidden_states[-1], mem, shapes, things,
                                 metas, num_things))
        losses.update(self.stuff_mask_loss(mem, shapes, stuff, num_stuff))
        # Balance thing and stuff losses by their share of GT segments.
        thing_ratio = num_things / (num_things + num_stuff)
        return {
            k: v * ((1 - thing_ratio) if 'stuff' in k else thing_ratio)
            for k, v in losses.items()
        }

    @staticmethod
    def _num_avg(num: int, ref: Tensor) -> float:
        """Number averaged over GPUs, at least 1 (released normalisation)."""
        return torch.clamp(reduce_mean(ref.new_tensor([float(num)])),
                           min=1).item()

    def _dice_layers(self, masks: List[Tensor], select, targets: Tensor,
                     weight, avg: float, name: str) -> Dict[str, Tensor]:
        """Dice of every decoder layer's masks (B, N, h, w), indexed by
        ``select``, against 1/4-scale ``targets``; the last is the tail."""
        out = {}
        for j, layer_masks in enumerate(masks):
            pred = _upsample2x(layer_masks[select])
            loss = self.loss_mask(pred, targets, weight, avg_factor=avg)
            key = f'loss_mask_{name}' if j == len(masks) - 1 else \
                f'd{j}.loss_mask_{name}'
            out[key] = loss
        return out

    def thing_mask_loss(self, cls_scores: Tensor, bbox_preds: Tensor,
                        queries: Tensor, mem: Tensor, shapes, things, metas,
                        num_things: float) -> Dict[str, Tensor]:
        """Filter the last-layer queries, decode their masks and supervise
        the matched ones.

        Args:
            cls_scores (Tensor): (B, Q, num_things) last-layer logits.
            bbox_preds (Tensor): (B, Q, 4) last-layer normalised cxcywh.
            queries (Tensor): (B, Q, C) last-layer hidden states.
        """
        num_layers = len(self.thing_mask_decoder.layers) + 1
        kept = []
        for i, gt in enumerate(things):
            pred = InstanceData(
                scores=cls_scores[i].detach(),
                bboxes=self._abs_boxes(bbox_preds[i].detach(), metas[i]))
            gt_inds = self.filter_assigner.assign(pred, gt, metas[i]).gt_inds
            kept.append(gt_inds.nonzero().squeeze(1))
        max_kept = max(len(k) for k in kept)
        if max_kept == 0:
            # Zero losses that still reach every mask-decoder parameter, so
            # that DDP sees them used on every rank.
            zero = queries.sum() * 0 + sum(
                p.sum() for p in self.thing_mask_decoder.parameters()) * 0
            return self._zero_layers(zero, num_layers, 'things')
        # Pad the kept queries of every image to one batch (zeros).
        thing_query = queries.new_zeros(len(kept), max_kept, queries.shape[-1])
        for i, k in enumerate(kept):
            thing_query[i, :len(k)] = queries[i, k]
        masks, _ = self.thing_mask_decoder(thing_query, None, mem, shapes)
        img_ids, query_ids, targets = [], [], []
        size = masks[-1].shape[-2:]
        for i, (k, gt) in enumerate(zip(kept, things)):
            if len(k) == 0:  # no thing in this image
                continue
            pred = InstanceData(
                scores=cls_scores[i, k].detach(),
                bboxes=self._abs_boxes(bbox_preds[i, k].detach(), metas[i]),
                masks=masks[-1][i, :len(k)].detach())
            gt_small = InstanceData(
                labels=gt.labels, bboxes=gt.bboxes,
                masks=_resize(gt.masks, size))
            gt_inds = self.mask_assigner.assign(pred, gt_small,
                                                metas[i]).gt_inds
            q = gt_inds.nonzero().squeeze(1)
            img_ids.append(torch.full_like(q, i))
            query_ids.append(q)
            targets.append(gt.masks[gt_inds[q] - 1])
        select = (torch.cat(img_ids), torch.cat(query_ids))
        targets = _resize(torch.cat(targets), (2 * size[0], 2 * size[1]))
        return self._dice_layers(masks, select, targets, None, num_things,
                                 'things')

    @staticmethod
    def _zero_layers(zero: Tensor, num_layers: int,
                     name: str) -> Dict[str, Tensor]:
        out = {f'd{j}.loss_mask_{name}': zero for j in range(num_layers - 1)}
        out[f'loss_mask_{name}'] = zero
        return out

    def stuff_mask_loss(self, mem: Tensor, shapes, stuff,
                        num_stuff: float) -> Dict[str, Tensor]:
        """Masks of every stuff query (absent classes get weight 0) and the
        presence classification of every stuff decoder layer."""
        batch = mem.shape[0]
        content, pos = self.stuff_query.weight.split(self.embed_dims, 1)
        masks, queries = self.stuff_mask_decoder(
            content.expand(batch, -1, -1), pos.expand(batch, -1, -1), mem,
            shapes)
        size = masks[-1].shape[-2:]
        full = stuff[0].masks.shape[-2:]
        targets = mem.new_zeros(batch, self.num_stuff_classes, *full)
        present = mem.new_zeros(batch, self.num_stuff_classes)
        for i, gt in enumerate(stuff):
            idx = gt.labels - self.num_things_classes
            targets[i, idx] = gt.masks.float()
            present[i, idx] = 1
        targets = _resize(targets.flatten(0, 1), (2 * size[0], 2 * size[1]))
        flat = [m.flatten(0, 1) for m in masks]
        losses = self._dice_layers(flat, slice(None), targets,
                                   present.flatten(), num_stuff, 'stuff')
        # Present -> class 0, absent -> background (1) of a 1-logit focal.
        labels = (1 - present.flatten()).long()
        for j, (fc, q) in enumerate(zip(self.cls_stuff_branches, queries)):
            losses[f'd{j}.loss_cls_stuff'] = self.loss_stuff_cls(
                fc(q).flatten(0, 1), labels, avg_factor=num_stuff)
        return losses

    # ----------------------------------------------------------- predict
    def predict(self, hidden_states: Tensor, references: List[Tensor],
                memory: Tensor, spatial_shapes: Tensor,
                batch_data_samples: SampleList, rescale: bool = True,
                **kwargs) -> List[dict]:
        """Per image a dict with ``pan`` (PixelData), ``ins`` (InstanceData)
        and ``sem`` (PixelData), see :meth:`predict_single`."""
        all_cls, all_coords = self(hidden_states, references)
        mem, shapes = self._mask_memory(memory, spatial_shapes)
        return [
            self.predict_single(all_cls[-1][i], all_coords[-1][i],
                                hidden_states[-1][i], mem[i:i + 1], shapes,
                                sample.metainfo, rescale)
            for i, sample in enumerate(batch_data_samples)
        ]

    def predict_single(self, cls_score: Tensor, bbox_pred: Tensor,
                       query: Tensor, mem: Tensor, shapes, img_meta: dict,
                       rescale: bool) -> dict:
        """Top-k thing candidates + all stuff queries -> mask-wise merging.

        Args:
            cls_score (Tensor): (Q, num_things) logits.
            bbox_pred (Tensor): (Q, 4) normalised cxcywh.
            query (Tensor): (Q, C) location decoder output.
            mem (Tensor): (1, L, C) mask memory.
        """
        cfg = self.test_cfg
        num_cls = self.num_things_classes
        scores, idx = cls_score.sigmoid().flatten().topk(
            min(cfg.get('max_per_img', 100), cls_score.numel()))
        labels, qid = idx % num_cls, idx // num_cls
        thing_masks = self.thing_mask_decoder(query[qid][None], None, mem,
                                              shapes)[0][-1][0]
        content, pos = self.stuff_query.weight.split(self.embed_dims, 1)
        stuff_masks, stuff_queries = self.stuff_mask_decoder(
            content[None], pos[None], mem, shapes)
        stuff_scores = self.cls_stuff_branches[-1](
            stuff_queries[-1][0]).sigmoid().flatten()
        masks = self._to_image(
            torch.cat([thing_masks, stuff_masks[-1][0]]), img_meta, rescale)
        num_th = len(labels)
        all_scores, binary = mask_quality_scores(
            torch.cat([scores, stuff_scores]), masks,
            cfg.get('mask_thr', 0.5))
        all_labels = torch.cat([
            labels,
            torch.arange(num_cls, num_cls + self.num_stuff_classes,
                         device=labels.device)
        ])
        is_thing = torch.arange(len(all_labels), device=labels.device) < num_th
        pan = mask_wise_merge(
            all_labels, all_scores, binary, is_thing,
            num_cls + self.num_stuff_classes,
            cfg.get('score_thrs', (0.25, 0.25)),
            cfg.get('overlap_thrs', (0.4, 0.2)))
        # Instance output: thing candidates by their merged score.
        bboxes = self._abs_boxes(bbox_pred[qid], img_meta)
        img_h, img_w = img_meta['img_shape']
        bboxes[:, 0::2].clamp_(0, img_w)
        bboxes[:, 1::2].clamp_(0, img_h)
        if rescale:
            bboxes /= bboxes.new_tensor(img_meta['scale_factor']).repeat(2)
        order = all_scores[:num_th].argsort(descending=True)
        ins = InstanceData(
            bboxes=bboxes[order], labels=labels[order],
            scores=all_scores[order], masks=binary[order])
        # Semantic output: the class of every painted pixel, void -> 255.
        sem = self._semantic(pan, num_cls + self.num_stuff_classes)
        return dict(
            pan=PixelData(sem_seg=pan[None]), ins=ins,
            sem=PixelData(sem_seg=sem[None]))

    @staticmethod
    def _semantic(pan: Tensor, num_classes: int) -> Tensor:
        """(H, W) panoptic map -> class map, void as 255 (ignored)."""
        sem = pan % INSTANCE_OFFSET
        sem[pan == num_classes] = 255
        return sem

    @staticmethod
    def _to_image(masks: Tensor, img_meta: dict, rescale: bool) -> Tensor:
        """(N, h, w) 1/8 masks -> (N, H, W) at the original image size
        (padding cropped) or at the network input size."""
        pad_h, pad_w = img_meta['batch_input_shape']
        img_h, img_w = img_meta['img_shape']
        masks = _resize(masks, (pad_h, pad_w))[:, :img_h, :img_w]
        if rescale:
            masks = _resize(masks, img_meta['ori_shape'][:2])
        return masks
