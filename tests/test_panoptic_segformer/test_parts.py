"""Mask-wise merging, the filter assignment and the mask decoder of Panoptic
SegFormer against hand-computed expectations."""
import pytest
import torch
from mmengine.structures import InstanceData

from mmdet.evaluation.functional import INSTANCE_OFFSET as OFF
from projects.panoptic_segformer import (
    FilterHungarianAssigner, PanopticSegFormerMaskDecoder,
    mask_quality_scores, mask_wise_merge)


def _box_mask(rows, cols, size=4):
    m = torch.zeros(size, size, dtype=torch.bool)
    m[rows, cols] = True
    return m


def test_mask_quality_score():
    masks = torch.full((2, 4, 4), 0.2)
    masks[0, :2, :2] = 0.8  # 4 pixels above 0.5
    masks[1] = 0.  # empty: scores 0, no division by zero
    scores, binary = mask_quality_scores(torch.tensor([0.9, 0.7]), masks)
    # mean inside = 4 * 0.8 / (4 + 1) = 0.64 -> 0.9 * 0.64^2
    assert scores.tolist() == pytest.approx([0.9 * 0.64**2, 0.])
    assert binary[0].sum() == 4 and binary[1].sum() == 0


def test_mask_wise_merge_overlaps_thresholds_and_ids():
    masks = torch.stack([
        _box_mask(slice(0, 2), slice(0, 2)),  # c0 thing 0.90: kept, id 1
        _box_mask(slice(0, 2), slice(1, 3)),  # c1 thing 0.80: 2/4 > 0.4 drop
        _box_mask(slice(1, 4), 0),  # c2 thing 0.70: 1/3 <= 0.4, id 2
        _box_mask(slice(2, 4), slice(None)),  # c3 stuff 0.60: 2/8 > 0.2 drop
        _box_mask(slice(None), slice(2, 4)),  # c4 stuff 0.50: free, kept
        _box_mask(slice(2, 4), 1),  # c5 stuff 0.20 < 0.25: dropped
        torch.zeros(4, 4, dtype=torch.bool),  # c6 thing 0.95: empty, no id
    ])
    labels = torch.tensor([0, 1, 1, 3, 4, 5, 2])
    scores = torch.tensor([0.9, 0.8, 0.7, 0.6, 0.5, 0.2, 0.95])
    is_thing = torch.tensor([True, True, True, False, False, False, True])
    pan = mask_wise_merge(labels, scores, masks, is_thing, num_classes=7)
    expected = torch.full((4, 4), 7)
    expected[:2, :2] = 0 + 1 * OFF
    expected[2:, 0] = 1 + 2 * OFF  # only the free pixels of c2
    expected[:, 2:] = 4
    assert torch.equal(pan, expected)


def test_mask_wise_merge_thresholds_per_kind():
    masks = torch.stack([
        _box_mask(slice(0, 2), slice(None)),
        _box_mask(slice(2, 4), slice(None)),
    ])
    labels, is_thing = torch.tensor([0, 3]), torch.tensor([True, False])
    scores = torch.tensor([0.3, 0.3])
    pan = mask_wise_merge(labels, scores, masks, is_thing, 7,
                          score_thrs=(0.35, 0.25))
    assert (pan[:2] == 7).all() and (pan[2:] == 3).all()
    # A thing overlapping painted stuff by exactly the threshold is kept.
    masks = torch.stack([
        _box_mask(slice(0, 2), slice(None)),
        _box_mask(slice(1, 4), slice(None)),  # 4 of its 12 pixels painted
    ])
    pan = mask_wise_merge(torch.tensor([3, 0]), torch.tensor([0.9, 0.8]),
                          masks, torch.tensor([False, True]), 7,
                          overlap_thrs=(1 / 3, 0.2))
    assert (pan[:2] == 3).all() and (pan[2:] == OFF).all()


def test_filter_assigner_keeps_up_to_three_queries_per_gt():
    assigner = FilterHungarianAssigner(
        match_costs=[dict(type='BBoxL1Cost', weight=1.0)], max_pos=3)
    gt = InstanceData(
        bboxes=torch.tensor([[0., 0, 10, 10], [50, 50, 60, 60]]),
        labels=torch.tensor([0, 1]))
    near0 = [[0., 0, 10, 10], [1, 1, 11, 11], [2, 2, 12, 12]]
    near1 = [[50., 50, 60, 60], [51, 51, 61, 61], [52, 52, 62, 62]]
    boxes = torch.tensor(near0 + near1 + [[30., 30, 40, 40]] * 2)
    pred = InstanceData(bboxes=boxes, scores=torch.zeros(8, 2))
    meta = dict(img_shape=(100, 100))
    gt_inds = assigner.assign(pred, gt, meta).gt_inds
    # min(3, 8 // 2) = 3 rounds: the three nearest queries of each gt
    assert gt_inds.tolist() == [1, 1, 1, 2, 2, 2, 0, 0]
    # 5 queries: min(3, 5 // 2) = 2 rounds
    pred = InstanceData(bboxes=boxes[[0, 1, 2, 3, 4]], scores=torch.zeros(5, 2))
    gt_inds = assigner.assign(pred, gt, meta).gt_inds
    assert gt_inds.tolist() == [1, 1, 0, 2, 2]
    empty = InstanceData(bboxes=torch.zeros(0, 4),
                         labels=torch.zeros(0, dtype=torch.long))
    assert assigner.assign(pred, empty, meta).gt_inds.tolist() == [0] * 5


def test_mask_decoder_masks_are_attention_maps():
    decoder = PanopticSegFormerMaskDecoder(
        num_layers=2, embed_dims=16, num_heads=2, self_attn=True)
    decoder.init_weights()
    shapes = [(8, 8), (4, 4), (2, 2)]
    memory = torch.randn(2, 64 + 16 + 4, 16)
    query, pos = torch.randn(2, 5, 16), torch.randn(2, 5, 16)
    masks, queries = decoder(query, pos, memory, shapes)
    assert len(masks) == 3 and len(queries) == 2
    assert all(m.shape == (2, 5, 8, 8) and (m >= 0).all() for m in masks)
    # Query i's mask depends on query i only (cross-attention of the tail).
    tail = decoder.mask_tail
    alone = tail(queries[-1][:, :1] + pos[:, :1], memory, None, shapes)[1]
    full = tail(queries[-1] + pos, memory, None, shapes)[1]
    assert torch.allclose(alone[:, 0], full[:, 0], atol=1e-6)
    assert set(dict(decoder.layers[0].named_children())) == {
        'self_attn', 'self_attn_norm', 'cross_attn', 'cross_attn_norm', 'ffn',
        'ffn_norm'}
