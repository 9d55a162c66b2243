"""Post-processing on hand-built logits with hand-computed results."""
import pytest
import torch
import torch.nn.functional as F
from tests.test_models.tiny_oneformer import data_samples

from mmdet.evaluation.functional import INSTANCE_OFFSET
from projects.oneformer.models import OneFormerFusionHead

HI, LO = 10.0, -10.0  # mask logits: sigmoid ~1 / ~0


def logits_of(probs):
    """Class logits whose softmax is exactly ``probs`` (rows sum to 1)."""
    probs = torch.tensor(probs, dtype=torch.float)
    assert torch.allclose(probs.sum(-1), torch.ones(len(probs)))
    return probs.log()


def column_masks(columns, height=4, width=8):
    """Mask logits [Q, H, W]; ``columns[q]`` maps column -> logit (else LO)."""
    masks = torch.full((len(columns), height, width), LO)
    for q, cols in enumerate(columns):
        for col, value in cols.items():
            masks[q, :, col] = value
    return masks


# Things: classes 0, 1; stuff: 2, 3; index 4 is no-object. 4 x 8 image.
PANOPTIC_CLS = logits_of([
    [0.9, 0.025, 0.025, 0.025, 0.025],  # q0 thing 0
    [0.1, 0.1, 0.6, 0.1, 0.1],  # q1 stuff 2, kept only at threshold 0.5
    [0.05, 0.05, 0.85, 0.025, 0.025],  # q2 stuff 2
    [0.1, 0.1, 0.05, 0.05, 0.7],  # q3 no-object: always dropped
    [0.0125, 0.95, 0.0125, 0.0125, 0.0125],  # q4 thing 1
    [0.045, 0.045, 0.045, 0.82, 0.045],  # q5 stuff 3
    [0.0075, 0.97, 0.0075, 0.0075, 0.0075],  # q6 thing 1
])
PANOPTIC_MASKS = column_masks([
    {
        0: HI,
        1: HI
    },
    {
        3: HI,
        4: HI
    },
    {
        5: HI
    },
    {
        c: HI
        for c in range(8)
    },
    # own area = cols 1-2, but q0 wins col 1: visible/own = 0.5 < 0.8
    {
        1: 1.0,
        2: HI
    },
    # sigmoid 0.5: loses cols 3-4 to q1 (0.6 > 0.82 * 0.5) unless q1 is out
    {
        3: 0.0,
        4: 0.0
    },
    # wins col 7 with sigmoid 0.27 < 0.5: those pixels become void
    {
        6: HI,
        7: -1.0
    },
])
VOID = 4
THING_0 = 0 + 1 * INSTANCE_OFFSET
THING_1 = 1 + 2 * INSTANCE_OFFSET


def fusion_head(**test_cfg):
    return OneFormerFusionHead(
        num_things_classes=2, num_stuff_classes=2, test_cfg=test_cfg)


def predict(head, cls, masks, task, **meta):
    meta.setdefault('pad_shape', masks.shape[-2:])
    samples = data_samples(1, **meta)
    result = head.predict(
        cls[None], masks[None], samples, [task], rescale=True)
    assert len(result) == 1 and len(result[0]) == 1
    return result[0]


@pytest.mark.parametrize('threshold, cols_3_4', [(0.5, 2), (0.8, 3)])
def test_panoptic_released_rules(threshold, cols_3_4):
    head = fusion_head(object_mask_thr=threshold)
    pan = predict(head, PANOPTIC_CLS, PANOPTIC_MASKS,
                  'panoptic')['pan_results'].sem_seg[0]
    # threshold 0.5 (ADE20K): q1 and q2 merge into one class-2 stuff segment
    # threshold 0.8 (COCO, Cityscapes): q1 is dropped and q5 takes cols 3-4
    expected = [THING_0, THING_0, VOID, cols_3_4, cols_3_4, 2, THING_1, VOID]
    assert pan.shape == (4, 8)
    assert (pan == torch.tensor(expected, dtype=pan.dtype)).all(), pan


def test_panoptic_defaults_are_released_coco_rules():
    head = fusion_head()
    assert head.test_cfg.object_mask_thr == 0.8
    assert head.test_cfg.iou_thr == 0.8
    assert head.test_cfg.filter_low_score is True


INSTANCE_CLS = logits_of([
    [0.6, 0.3, 0.04, 0.03, 0.03],
    [0.05, 0.05, 0.8, 0.05, 0.05],  # stuff: in the top 3 but not a thing
    [0.1, 0.2, 0.1, 0.1, 0.5],  # 0.2 is 4th of the flattened Q x K scores
])
INSTANCE_MASKS = torch.tensor([
    [[2.0, -1.0], [0.5, -3.0]],
    [[1.0, 1.0], [1.0, 1.0]],
    [[3.0, 3.0], [3.0, -3.0]],
])


def test_instance_topk_over_queries_and_classes():
    head = fusion_head(max_per_image=3)  # k = N = 3 queries
    ins = predict(head, INSTANCE_CLS, INSTANCE_MASKS,
                  'instance')['ins_results']
    order = ins.scores.argsort(descending=True)
    mask_score = (torch.sigmoid(torch.tensor(2.0)) +
                  torch.sigmoid(torch.tensor(0.5))) / 2
    assert ins.labels[order].tolist() == [0, 1]
    torch.testing.assert_close(
        ins.scores[order], torch.stack([0.6 * mask_score, 0.3 * mask_score]))
    binary = torch.tensor([[True, False], [True, False]])
    assert all(m.equal(binary) for m in ins.masks)
    assert ins.bboxes.shape == (2, 4)


SEMANTIC_CLS = logits_of([
    [0.45, 0.05, 0.05, 0.45],
    [0.45, 0.05, 0.05, 0.45],
    [0.05, 0.6, 0.05, 0.3],
])
SEMANTIC_MASKS = column_masks([{
    0: HI
}, {
    0: HI
}, {
    0: HI,
    1: HI
}],
                              height=1,
                              width=2)


def test_semantic_sums_over_queries_without_no_object():
    head = OneFormerFusionHead(num_things_classes=1, num_stuff_classes=2)
    sem = predict(head, SEMANTIC_CLS, SEMANTIC_MASKS,
                  'semantic')['sem_results'].sem_seg
    # pixel 0: class 0 scores 0.95 vs class 1 0.7 although q2 is the most
    # confident query; no-object (0.45 + 0.45 + 0.3) is not a class.
    assert sem.tolist() == [[[0, 1]]]


def test_masks_cropped_and_resized_before_inference():
    torch.manual_seed(0)
    head = fusion_head()
    cls = torch.randn(5, 5)
    masks = torch.randn(5, 16, 24) * 4
    meta = dict(pad_shape=(16, 24), img_shape=(13, 19), ori_shape=(26, 38))
    sem = predict(head, cls, masks, 'semantic', **meta)['sem_results']
    resized = F.interpolate(
        masks[None, :, :13, :19],
        size=(26, 38),
        mode='bilinear',
        align_corners=False)[0]
    expected = torch.einsum('qk,qhw->khw',
                            cls.softmax(-1)[:, :-1],
                            resized.sigmoid()).argmax(0)
    assert sem.sem_seg.shape == (1, 26, 38)
    assert sem.sem_seg[0].equal(expected)
    pan = predict(head, cls, masks, 'panoptic', **meta)['pan_results']
    assert pan.sem_seg.shape == (1, 26, 38)


def test_stride_4_masks_upsampled_to_padded_input_first():
    torch.manual_seed(0)
    head = fusion_head()
    cls = torch.randn(5, 5)
    masks = torch.randn(5, 4, 6) * 4
    meta = dict(pad_shape=(16, 24), img_shape=(13, 19), ori_shape=(26, 38))
    padded = F.interpolate(masks[None], size=(16, 24), mode='bilinear',
                           align_corners=False)[0]
    for task, key in (('semantic', 'sem_results'),
                      ('panoptic', 'pan_results')):
        got = predict(head, cls, masks, task, **meta)[key].sem_seg
        expected = predict(head, cls, padded, task, **meta)[key].sem_seg
        assert got.shape == (1, 26, 38) and got.equal(expected)


@pytest.mark.parametrize('size,factor', [((4, 6), 4), ((7, 9), 2)])
def test_semantic_rule_upsamples_slab_by_slab_as_the_whole_map(
        monkeypatch, size, factor):
    """Without a resize to ``ori_shape`` the semantic rule upsamples the
    masks in slabs of rows (here of 2 and 3 rows, the last one shorter),
    pixel-major: each slab equals those rows of torch's upsampling of the
    whole map as one channels-last map, cropped; that is the released
    upsampling of each mask within an ulp, and the label map equals the
    einsum over the masks upsampled one by one."""
    from projects.oneformer.models import fusion_head as module
    torch.manual_seed(0)
    head = fusion_head()
    cls = torch.randn(5, 5)
    masks = torch.randn(5, *size) * 4
    pad = (size[0] * factor, size[1] * factor)
    img = (pad[0] - 3, pad[1] - 5)
    meta = dict(pad_shape=pad, img_shape=img, ori_shape=img)
    released = F.interpolate(masks[:, None], size=pad, mode='bilinear',
                             align_corners=False)[:, 0, :img[0], :img[1]]
    whole = F.interpolate(
        masks[None].contiguous(memory_format=torch.channels_last), size=pad,
        mode='bilinear', align_corners=False)[0, :, :img[0], :img[1]]
    torch.testing.assert_close(whole, released, rtol=0, atol=1e-6)
    expected = torch.einsum('qk,qhw->khw', cls.softmax(-1)[:, :-1],
                            released.sigmoid()).argmax(0)
    # blocks of 7 pixels: a slab's last block is shorter, and the rule's
    # buffers are reused by blocks of every length
    monkeypatch.setattr(module, '_SEMANTIC_BLOCK', 7)
    for rows in (2, 3):
        monkeypatch.setattr(module, '_SEMANTIC_SLAB', rows * pad[1])
        # each slab is valid until the next one (one buffer): keep copies
        slabs = [slab.clone() for slab in head._resized_slabs(
            masks, dict(meta, batch_input_shape=pad), True)]
        assert len(slabs) == -(-img[0] // rows) > 1
        assert all(slab.shape[0] == rows for slab in slabs[:-1])
        assert torch.cat(slabs).equal(whole.permute(1, 2, 0))
        sem = predict(head, cls, masks, 'semantic', **meta)['sem_results']
        assert sem.sem_seg[0].equal(expected)


@pytest.mark.parametrize('dtype,num_classes', [
    (torch.float32, 150), (torch.bfloat16, 150), (torch.bfloat16, 300)])
def test_class_argmax_is_torchs_first_maximal_class(dtype, num_classes):
    """Ties (scores rounded to a few values) go to the first maximal class,
    a NaN pixel to torch's first NaN, as ``argmax(0)`` decides them."""
    from projects.oneformer.models.fusion_head import class_argmax
    torch.manual_seed(0)
    scores = (torch.rand(num_classes, 257) * 4).round().to(dtype)
    scores[:, 0] = 3  # every class tied: class 0
    scores[-1, 1] = 9  # the last class
    expected = scores.argmax(0)
    assert class_argmax(scores.clone()).equal(expected)
    scores[[5, 2], 3] = float('nan')
    assert class_argmax(scores.clone()).equal(scores.argmax(0))
    assert scores.argmax(0)[3] == 2


def test_unknown_task_rejected():
    with pytest.raises(ValueError, match='panoptic'):
        predict(fusion_head(), SEMANTIC_CLS, SEMANTIC_MASKS, 'depth')


@pytest.mark.parametrize('seed,ori_shape', [(0, (26, 38)), (1, (26, 38)),
                                            (2, (13, 19))])
def test_keepable_queries_give_mmdets_rules_on_all_upsampled_masks(
        monkeypatch, seed, ori_shape):
    """Only the masks a rule can use are upsampled, and the instance masks
    are taken, upsampled (into one buffer) and scored in chunks: the
    panoptic and instance results equal mmdet's ``MaskFormerFusionHead``
    rules applied to all N masks upsampled first (the released order); the
    semantic map equals the einsum over all of them. With ``ori_shape`` the
    image size, the masks are not resized after the crop. Chunks of 4: the
    6-7 distinct kept queries take two, the second shorter."""
    from mmdet.models.seg_heads.panoptic_fusion_heads import \
        MaskFormerFusionHead
    from projects.oneformer.models import fusion_head as module
    monkeypatch.setattr(module, '_INSTANCE_CHUNK', 4)
    torch.manual_seed(seed)
    head = fusion_head(object_mask_thr=0.3, max_per_image=16)
    cls = torch.randn(12, 5) * 2
    cls[:3, -1] = 9.0  # some no-object queries
    masks = torch.randn(12, 4, 6) * 4
    meta = dict(pad_shape=(16, 24), img_shape=(13, 19), ori_shape=ori_shape)
    full = head.crop_and_rescale(masks, dict(meta, batch_input_shape=(16, 24)))
    assert full.shape == (12, ) + ori_shape
    pan = predict(head, cls, masks, 'panoptic', **meta)['pan_results']
    expected = MaskFormerFusionHead.panoptic_postprocess(head, cls, full)
    assert pan.sem_seg.equal(expected.sem_seg)
    ins = predict(head, cls, masks, 'instance', **meta)['ins_results']
    expected = MaskFormerFusionHead.instance_postprocess(head, cls, full)
    queries = head._instance_selection(cls)[2]
    assert len(ins) == len(queries) > len(queries.unique())  # a query twice
    for key in ('labels', 'scores', 'bboxes', 'masks'):
        assert getattr(ins, key).equal(getattr(expected, key)), key
    sem = predict(head, cls, masks, 'semantic', **meta)['sem_results']
    assert sem.sem_seg[0].equal(
        torch.einsum('qk,qhw->khw', cls.softmax(-1)[:, :-1],
                     full.sigmoid()).argmax(0))


def test_no_keepable_query_gives_an_all_void_panoptic_map():
    head = fusion_head()
    cls = torch.zeros(4, 5)
    cls[:, -1] = 9.0  # every query is no-object
    pan = predict(head, cls, torch.randn(4, 4, 6), 'panoptic',
                  pad_shape=(16, 24))['pan_results']
    assert pan.sem_seg.shape == (1, 16, 24)
    assert (pan.sem_seg == VOID).all()


def test_occupancy_boxes_equal_mmdets_mask2bbox():
    from mmdet.structures.mask import mask2bbox

    from projects.oneformer.models.fusion_head import occupancy_boxes

    def mask_boxes(masks):  # as the instance rule makes the occupancy
        occupied = masks.view(torch.uint8)
        return occupancy_boxes(occupied.amax(1), occupied.amax(2))

    torch.manual_seed(0)
    masks = torch.rand(12, 13, 19) > 0.97
    masks[0] = False  # empty: all-zero box
    masks[1] = True
    masks[2] = False
    masks[2, 0, 0] = True  # corners
    masks[3] = False
    masks[3, -1, -1] = True
    boxes = mask_boxes(masks)
    assert boxes.dtype == torch.float32
    assert boxes.equal(mask2bbox(masks))
    assert boxes[0].eq(0).all() and boxes[1].tolist() == [0, 0, 19, 13]
    assert mask_boxes(masks[:0]).shape == (0, 4)


def test_instance_rule_keeping_no_thing_gives_an_empty_result():
    head = fusion_head(max_per_image=4)
    cls = torch.full((3, 5), -9.0)
    cls[:, 2:4] = 5.0  # the top scores are all stuff
    ins = predict(head, cls, torch.randn(3, 4, 6), 'instance',
                  pad_shape=(16, 24))['ins_results']
    assert len(ins) == 0
    assert ins.masks.shape == (0, 16, 24) and ins.bboxes.shape == (0, 4)
