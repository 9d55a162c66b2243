"""Semantic output for mmdet's MaskFormer/Mask2Former (SemanticMaskFormerFusionHead)."""
import math

import torch
import torch.nn.functional as F
from mmdet.structures import DetDataSample

import projects.oneformer  # noqa: F401
from projects.oneformer.models.semantic_maskformer_fusion_head import \
    SemanticMaskFormerFusionHead


def _head(**test_cfg):
    return SemanticMaskFormerFusionHead(
        num_things_classes=1, num_stuff_classes=1, test_cfg=test_cfg)


def _logit(p):
    return math.log(p / (1 - p))


def test_semantic_postprocess_matches_hand_computation():
    # 2 queries, 2 classes (+ no-object); class probabilities given directly
    probs = torch.tensor([[0.6, 0.3, 0.1], [0.2, 0.7, 0.1]])
    mask_cls = probs.log()
    # sigmoid(mask) of the two queries at three pixels
    sig = [[0.9, 0.2, 0.6], [0.1, 0.8, 0.55]]
    mask_pred = torch.tensor([[[_logit(p) for p in row]] for row in sig])  # [2, 1, 3]
    # by hand, score(k, x) = sum_q p(q, k) * sig(q, x):
    #   x0: k0 = .6*.9 + .2*.1 = .56,  k1 = .3*.9 + .7*.1 = .34  -> 0
    #   x1: k0 = .6*.2 + .2*.8 = .28,  k1 = .3*.2 + .7*.8 = .62  -> 1
    #   x2: k0 = .6*.6 + .2*.55 = .47, k1 = .3*.6 + .7*.55 = .565 -> 1
    #   (the query with the highest mask at x2 is query 0, of class 0)
    sem = _head().semantic_postprocess(mask_cls, mask_pred).sem_seg
    assert sem.shape == (1, 1, 3)
    assert sem.tolist() == [[[0, 1, 1]]]


def _samples(num):
    samples = []
    for _ in range(num):
        sample = DetDataSample()
        sample.set_metainfo(dict(img_shape=(3, 5), ori_shape=(6, 10),
                                 batch_input_shape=(4, 8)))
        samples.append(sample)
    return samples


def test_predict_sets_pred_sem_seg_at_original_size():
    mask_cls = torch.randn(2, 4, 3)
    mask_pred = torch.randn(2, 4, 4, 8)  # padded to the batch input
    samples = _samples(2)
    head = _head(panoptic_on=True, instance_on=True, semantic_on=True,
                 max_per_image=4)
    results = head.predict(mask_cls, mask_pred, samples, rescale=True)
    for cls, pred, sample, result in zip(mask_cls, mask_pred, samples, results):
        # mmdet's detectors take pan/ins results and refuse 'sem_results'
        assert set(result) == {'pan_results', 'ins_results'}
        assert result['pan_results'].sem_seg.shape == (1, 6, 10)
        # crop to the image, resize to the original size, then the semantic rule
        resized = F.interpolate(pred[None, :, :3, :5], size=(6, 10),
                                mode='bilinear', align_corners=False)[0]
        expected = head.semantic_postprocess(cls, resized).sem_seg
        assert torch.equal(sample.pred_sem_seg.sem_seg, expected)


def test_predict_without_semantic_is_mmdets():
    mask_cls = torch.randn(1, 4, 3)
    mask_pred = torch.randn(1, 4, 4, 8)
    samples = _samples(1)
    results = _head().predict(mask_cls, mask_pred, samples, rescale=False)
    assert set(results[0]) == {'pan_results'}
    assert results[0]['pan_results'].sem_seg.shape == (1, 3, 5)
    assert 'pred_sem_seg' not in samples[0]
