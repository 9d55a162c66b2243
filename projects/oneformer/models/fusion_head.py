"""Post-processing of OneFormer predictions with the released rules."""
import functools
from typing import Callable, Iterator, List, Optional, Sequence, Tuple

import torch
import torch.nn.functional as F
from mmengine.config import ConfigDict
from mmengine.structures import InstanceData, PixelData
from torch import Tensor

from mmdet.models.seg_heads.panoptic_fusion_heads import MaskFormerFusionHead
from mmdet.registry import MODELS
from mmdet.structures import SampleList
from ..tasks import TASK_SPECS, check_tasks

# pixels per block of the semantic rule: the [block, K] scores stay in cache
_SEMANTIC_BLOCK = 4096
# output pixels (whole rows) per slab the semantic rule upsamples at a time
_SEMANTIC_SLAB = 32768
# instance masks resized and scored per chunk of this many
_INSTANCE_CHUNK = 8


def semantic_inference(mask_cls: Tensor, mask_pred: Tensor) -> Tensor:
    """Released semantic inference: per-class scores, the sum over queries of
    softmax(class)[:-1] x sigmoid(mask).

    Args:
        mask_cls (Tensor): Class logits [..., N, K+1].
        mask_pred (Tensor): Mask logits [..., N, H, W].

    Returns:
        Tensor: Scores [..., K, H, W].
    """
    return torch.einsum('...qk,...qhw->...khw',
                        F.softmax(mask_cls, dim=-1)[..., :-1],
                        mask_pred.sigmoid())


def bilinear_into(masks: Tensor, size: Sequence[int], out: Tensor) -> Tensor:
    """``F.interpolate(masks, size, mode='bilinear', align_corners=False)``
    of [n, C, h, w] written into ``out`` [n, C, *size] (the same values;
    ``out`` keeps its memory format). A caller that resizes chunk after
    chunk reuses one output: on CPU a fresh output of this size is paged in
    again at every call, which can cost as much as the resize."""
    return torch.ops.aten.upsample_bilinear2d.out(
        masks, list(size), False, None, None, out=out)


def _resized_to_ori(meta: dict, rescale: bool) -> bool:
    """Whether the released order resizes the cropped masks to
    ``ori_shape`` (a same-size bilinear resize is the identity)."""
    return rescale and tuple(meta['ori_shape'][:2]) != tuple(
        meta['img_shape'][:2])


def _slab_rows(width: int) -> int:
    """Rows per slab of the semantic rule for rows of ``width`` pixels."""
    return max(1, _SEMANTIC_SLAB // width)


def _row_slabs(masks: Tensor) -> Tuple[Tensor, ...]:
    """Masks [N, H, W] as pixel-major slabs of whole rows [r, W, N] (views,
    ``_SEMANTIC_SLAB`` pixels each)."""
    return masks.permute(1, 2, 0).split(_slab_rows(masks.shape[-1]))


def class_argmax(scores: Tensor) -> Tensor:
    """``scores.argmax(0)`` of class scores [K, P] (the first maximal class
    of each pixel), overwriting ``scores``. torch's CPU argmax keeps an
    index per element and does not vectorise; a max over the outer class
    axis and in-place elementwise ops do: the max, then the classes that
    reach it, ranked K .. 1 so that the largest rank is the first of
    them. Scores with a NaN max, or with more classes than their dtype
    holds as exact integers (256 in bf16), are left to torch's argmax."""
    num_classes = scores.shape[0]
    best = scores.amax(0)
    if best.isnan().any() or \
            num_classes > 2 / torch.finfo(scores.dtype).eps:
        return scores.argmax(0)
    ranks = torch.arange(num_classes, 0, -1, dtype=scores.dtype,
                         device=scores.device)[:, None]
    return num_classes - scores.eq_(best).mul_(ranks).amax(0).long()


def occupancy_boxes(cols: Tensor, rows: Tensor) -> Tensor:
    """mmdet's ``mask2bbox`` without its per-mask loop: boxes [n, 4] (x1, y1,
    x2, y2; float32, all zero for an empty mask) of masks whose occupied
    columns [n, W] and rows [n, H] are 1 (uint8, 0 elsewhere), e.g. a max
    over bool masks' bytes (torch's ``any`` over an outer dimension is slow
    on CPU)."""
    width, height = cols.shape[1], rows.shape[1]
    # argmax returns the first maximal index
    boxes = torch.stack([
        cols.argmax(1), rows.argmax(1), width - cols.flip(1).argmax(1),
        height - rows.flip(1).argmax(1)
    ], dim=1).float()
    return boxes * cols.amax(1, keepdim=True).bool()


def _instance_outputs(num: int, size: Sequence[int], like: Tensor
                      ) -> Tuple[Tensor, ...]:
    """The instance rule's outputs for ``num`` masks of ``size`` (H, W) of
    logits ``like``: bool masks [num, H, W], the foreground sums [num]
    (``like``'s dtype), the areas [num] (float32 counts bytes exactly up to
    2^24 pixels per mask, int32 beyond) and the occupied columns [num, W]
    and rows [num, H] (uint8)."""
    height, width = size
    area_dtype = torch.float32 if height * width <= 2**24 else torch.int32
    return (like.new_empty((num, height, width), dtype=torch.bool),
            like.new_empty(num), like.new_empty(num, dtype=area_dtype),
            like.new_empty((num, width), dtype=torch.uint8),
            like.new_empty((num, height), dtype=torch.uint8))


@MODELS.register_module()
class OneFormerFusionHead(MaskFormerFusionHead):
    """MaskFormer fusion head plus semantic inference and per-task outputs.

    ``test_cfg`` keys: ``object_mask_thr`` (panoptic query score threshold:
    0.5 for ADE20K, 0.8 elsewhere), ``iou_thr`` (panoptic overlap threshold,
    0.8), ``filter_low_score`` (True), ``max_per_image`` (instance top-k;
    the detector sets it to the number of queries N) and ``semantic_scores``
    (False; True keeps the per-class scores in ``pred_sem_seg.scores``, for
    test-time augmentation).
    """

    # Released inference rules. `filter_low_score` restricts each panoptic
    # segment to its own sigmoid >= 0.5 area, as the released panoptic
    # inference does.
    DEFAULT_TEST_CFG = dict(
        object_mask_thr=0.8, iou_thr=0.8, filter_low_score=True)

    def __init__(self, *args, test_cfg=None, **kwargs) -> None:
        super().__init__(*args, test_cfg=test_cfg, **kwargs)
        self.test_cfg = ConfigDict({**self.DEFAULT_TEST_CFG,
                                    **(test_cfg or {})})

    def semantic_postprocess(self,
                             mask_cls: Tensor,
                             mask_pred: Tensor,
                             meta: Optional[dict] = None,
                             rescale: bool = True) -> PixelData:
        """Sum over queries of class probs x mask probs, then argmax.

        Args:
            mask_cls (Tensor): Class logits [N, K+1].
            mask_pred (Tensor): Mask logits [N, H, W] at the output size, or,
                with ``meta``, as the model predicts them ([N, h, w]).
            meta (dict, optional): The image's meta: ``mask_pred`` is then
                resized first (:meth:`crop_and_rescale`).
            rescale (bool): With ``meta``, resize to ``ori_shape``.

        Returns:
            PixelData: ``sem_seg`` label map [1, H, W]; with
            ``test_cfg.semantic_scores`` also ``scores`` [K, H, W].
        """
        if self.test_cfg.get('semantic_scores', False):
            if meta is not None:
                mask_pred = self.crop_and_rescale(mask_pred, meta, rescale)
            scores = semantic_inference(mask_cls, mask_pred)
            return PixelData(sem_seg=scores.argmax(0)[None], scores=scores)
        # The same sum as a [K, N] x [N, pixels] matmul, block by block of
        # pixel-major mask logits: the K x H x W scores are never written
        # out, only their argmax over the classes (``class_argmax``); every
        # block's mask probabilities and scores go into two reused buffers.
        probs = F.softmax(mask_cls, dim=-1)[:, :-1].t()
        slabs = _row_slabs(mask_pred) if meta is None else \
            self._resized_slabs(mask_pred, meta, rescale)
        num_queries, num_classes = probs.shape[1], probs.shape[0]
        mask_probs = mask_pred.new_empty(_SEMANTIC_BLOCK * num_queries)
        scores = mask_pred.new_empty(num_classes * _SEMANTIC_BLOCK)
        labels, height = [], 0
        for slab in slabs:
            height += slab.shape[0]
            for block in slab.reshape(-1, num_queries).split(
                    _SEMANTIC_BLOCK):
                n = len(block)
                block_scores = scores[:num_classes * n].view(num_classes, n)
                torch.mm(probs,
                         torch.sigmoid(block, out=mask_probs[:n * num_queries]
                                       .view(n, num_queries)).t(),
                         out=block_scores)
                labels.append(class_argmax(block_scores))
        return PixelData(sem_seg=torch.cat(labels).view(1, height, -1))

    def _resized_slabs(self, mask_pred: Tensor, meta: dict,
                       rescale: bool) -> Iterator[Tensor]:
        """``crop_and_rescale(mask_pred, meta, rescale)`` [N, H, W],
        pixel-major, as slabs of whole rows [r, W, N], top to bottom.

        When the masks are only upsampled by an integer factor s and cropped
        (no resize to ``ori_shape``), each slab is upsampled on its own, from
        the input rows its rows interpolate between: bilinear output row y
        reads input rows floor(src) and floor(src) + 1 with src = (y + 0.5) /
        s - 0.5, clamped to the map, and the columns are upsampled as in
        the whole map. The masks are upsampled as the N channels of one
        channels-last map, which torch's CPU resize writes pixel-major: the
        full-size masks [N, H, W] are never written, and each slab is read by
        the rule while it is in cache. For a power-of-two s (stride 4) every
        value equals the whole map's upsampled channels-last (which rounds
        differently from one mask at a time, by up to an ulp); otherwise
        the two coordinates may round differently.

        The slabs are upsampled into one buffer: each slab is valid until
        the next one is produced.
        """
        pad_h, pad_w = meta['batch_input_shape'][:2]
        img_h, img_w = meta['img_shape'][:2]
        h = mask_pred.shape[-2]
        factor = pad_h // h
        rows = _slab_rows(pad_w)
        if _resized_to_ori(meta, rescale) or factor * h != pad_h \
                or factor == 1:
            yield from _row_slabs(
                self.crop_and_rescale(mask_pred, meta, rescale))
            return
        masks = mask_pred[None].contiguous(memory_format=torch.channels_last)
        spans = []
        for start in range(0, img_h, rows):
            stop = min(start + rows, img_h)
            # input rows read by output rows start .. stop - 1 (floor
            # division: the first is negative at the top, clamped to 0)
            first = max((2 * start + 1 - factor) // (2 * factor), 0)
            last = min((2 * stop - 1 - factor) // (2 * factor) + 1, h - 1)
            spans.append((start, stop, first, last))
        num_masks = len(mask_pred)
        buffer = mask_pred.new_empty(
            max(last + 1 - first for _, _, first, last in spans) * factor *
            pad_w * num_masks)
        for start, stop, first, last in spans:
            out_rows = (last + 1 - first) * factor
            slab = bilinear_into(
                masks[:, :, first:last + 1], (out_rows, pad_w),
                buffer[:out_rows * pad_w * num_masks].view(
                    1, out_rows, pad_w, num_masks).permute(0, 3, 1, 2)
            )[0].permute(1, 2, 0)
            offset = first * factor
            yield slab[start - offset:stop - offset, :img_w]

    def instance_postprocess(self,
                             mask_cls: Tensor,
                             mask_pred: Tensor,
                             resize: Optional[Callable] = None
                             ) -> InstanceData:
        """mmdet's Mask2Former instance rule: the top ``max_per_image`` of all
        query-class scores, thing classes kept, each score x the mean
        foreground probability of its query's mask; boxes of the masks.

        The kept queries' masks are taken, resized, thresholded, scored and
        boxed ``_INSTANCE_CHUNK`` at a time, straight into the output: each
        full-size chunk is read while it is in cache and only the boolean
        masks, the sums and the occupied rows and columns are kept; the
        scores and boxes are made from those once. A query kept with several
        classes has one mask, mask score and box: they are computed once and
        repeated.

        Args:
            mask_cls (Tensor): Class logits [N, K+1].
            mask_pred (Tensor): Mask logits [N, h, w].
            resize (callable, optional): Mask logits [n, h, w] -> [n, H, W]
                at the output size (:meth:`crop_and_rescale`; a new tensor,
                or a view of one, which the rule overwrites); None when
                ``mask_pred`` is at the output size.

        Returns:
            InstanceData: ``masks`` (bool [n, H, W]), ``labels``, ``scores``,
            ``bboxes``.
        """
        scores, labels, queries = self._instance_selection(mask_cls)
        distinct, repeat = queries.unique(return_inverse=True)
        if len(distinct) == len(queries):  # no query twice: keep the order
            distinct, repeat = queries, None
        masks = None
        for i, picked in enumerate(distinct.split(_INSTANCE_CHUNK)):  # >= 1
            chunk = mask_pred[picked]
            if resize is not None:
                chunk = resize(chunk)
            if masks is None:
                masks, sums, areas, cols, rows = _instance_outputs(
                    len(distinct), chunk.shape[1:], chunk)
            span = slice(i * _INSTANCE_CHUNK,
                         i * _INSTANCE_CHUNK + len(picked))
            binary = torch.gt(chunk, 0, out=masks[span])
            # sigmoid where the mask is on, exactly 0 (sigmoid(-inf))
            # elsewhere, and the area as a byte sum: the values of
            # sum(sigmoid x binary) and sum(binary) without a float x bool
            # product or a bool -> int copy (both slow on CPU); a float
            # sum of the bytes is twice as fast as an int one
            foreground = F.threshold_(chunk, 0., float('-inf')).sigmoid_()
            torch.sum(foreground.flatten(1), 1, out=sums[span])
            occupied = binary.view(torch.uint8)
            torch.sum(occupied.flatten(1), 1, dtype=areas.dtype,
                      out=areas[span])
            torch.amax(occupied, 1, out=cols[span])
            torch.amax(occupied, 2, out=rows[span])
        mask_scores = sums / (areas + 1e-6)
        bboxes = occupancy_boxes(cols, rows)
        if repeat is not None:
            masks, mask_scores, bboxes = (
                masks[repeat], mask_scores[repeat], bboxes[repeat])
        return InstanceData(
            masks=masks, labels=labels, scores=scores * mask_scores,
            bboxes=bboxes)

    def _instance_selection(self,
                            mask_cls: Tensor) -> Tuple[Tensor, Tensor, Tensor]:
        """Class scores, labels and query of each kept instance [n]."""
        scores = F.softmax(mask_cls, dim=-1)[:, :-1].flatten()
        scores, top = scores.topk(
            self.test_cfg.get('max_per_image', 100), sorted=False)
        labels = top % self.num_classes
        thing = labels < self.num_things_classes
        queries = torch.div(top, self.num_classes, rounding_mode='floor')
        return scores[thing], labels[thing], queries[thing]

    def panoptic_queries(self, mask_cls: Tensor) -> Tensor:
        """The queries the panoptic rule can keep, decided from the class
        logits [N, K+1] alone: over ``object_mask_thr`` and not
        no-object."""
        scores, labels = F.softmax(mask_cls, dim=-1).max(-1)
        keep = labels.ne(self.num_classes) & (
            scores > self.test_cfg.get('object_mask_thr', 0.8))
        return keep.nonzero()[:, 0]

    def crop_and_rescale(self, mask_pred: Tensor, meta: dict,
                         rescale: bool = True,
                         out: Optional[Tensor] = None) -> Tensor:
        """Mask logits [N, h, w] -> upsampled to the padded input
        (``batch_input_shape``), cropped to the image and, with ``rescale``,
        resized to ``ori_shape``: the released order, done before any
        inference rule. With ``out`` ([>= N, 1, *batch_input_shape]) the
        upsampling writes into its first N rows, and the result may be a
        view of it."""
        pad_shape = tuple(meta['batch_input_shape'][:2])
        if tuple(mask_pred.shape[-2:]) != pad_shape:
            if out is None:
                mask_pred = F.interpolate(
                    mask_pred[:, None], size=pad_shape, mode='bilinear',
                    align_corners=False)[:, 0]
            else:
                mask_pred = bilinear_into(mask_pred[:, None], pad_shape,
                                          out[:len(mask_pred)])[:, 0]
        img_h, img_w = meta['img_shape'][:2]
        mask_pred = mask_pred[:, :img_h, :img_w]
        # a same-size bilinear resize is the identity: skip the copy
        if _resized_to_ori(meta, rescale):
            mask_pred = F.interpolate(
                mask_pred[:, None],
                size=tuple(meta['ori_shape'][:2]),
                mode='bilinear',
                align_corners=False)[:, 0]
        return mask_pred

    def predict(self,
                mask_cls_results: Tensor,
                mask_pred_results: Tensor,
                batch_data_samples: SampleList,
                tasks: Sequence[str],
                rescale: bool = True) -> List[dict]:
        """Post-process one prediction per (image, task) pair.

        Args:
            mask_cls_results (Tensor): Class logits [P, N, K+1].
            mask_pred_results (Tensor): Mask logits [P, N, h, w], at stride
                4 or already at the padded input size.
            batch_data_samples (list): Data sample of each pair (P).
            tasks (Sequence[str]): Task of each pair (P).
            rescale (bool): Resize to ``ori_shape``. Defaults to True.

        Returns:
            list[dict]: One dict per pair with the single key matching its
            task: ``pan_results``, ``ins_results`` or ``sem_results``.
        """
        check_tasks(tasks)
        results = []
        for mask_cls, mask_pred, data_sample, task in zip(
                mask_cls_results, mask_pred_results, batch_data_samples,
                tasks):
            resize = functools.partial(
                self.crop_and_rescale, meta=data_sample.metainfo,
                rescale=rescale)
            # Upsampling is per mask: only the masks a rule can use are
            # upsampled.
            if task == 'panoptic':  # the rule sees exactly those queries
                keep = self.panoptic_queries(mask_cls)
                result = self.panoptic_postprocess(mask_cls[keep],
                                                   resize(mask_pred[keep]))
            elif task == 'instance':  # the top-k queries, taken by the rule
                # every chunk is upsampled into one buffer
                buffer = mask_pred.new_empty(
                    (_INSTANCE_CHUNK, 1) +
                    tuple(data_sample.metainfo['batch_input_shape'][:2]))
                result = self.instance_postprocess(
                    mask_cls, mask_pred,
                    functools.partial(resize, out=buffer))
            else:
                result = self.semantic_postprocess(
                    mask_cls, mask_pred, data_sample.metainfo, rescale)
            results.append({TASK_SPECS[task].result_key: result})
        return results
