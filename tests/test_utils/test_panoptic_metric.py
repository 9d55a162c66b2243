"""The registered CocoPanopticMetric scores like mmdet's and leaves the predictions alone."""
import copy

import mmcv
import numpy as np
import torch
from mmdet.evaluation.metrics import CocoPanopticMetric as MMDetCocoPanopticMetric
from mmdet.registry import METRICS
from mmengine.registry import DefaultScope
from panopticapi.utils import id2rgb

import projects.common  # noqa: F401  registers the metric
from projects.common.panoptic_metric import CocoPanopticMetric

META = dict(classes=('person', 'sky'), thing_classes=('person', ),
            stuff_classes=('sky', ))
VOID = len(META['classes'])  # mmdet's void id in a predicted map
OFFSET = 1000  # mmdet's INSTANCE_OFFSET


def _sample(tmp_path):
    """One 8x8 image: ground truth person (rows 0-3) and sky (rows 4-7); the
    prediction gets the person, half the sky, and leaves the rest void."""
    gt = np.zeros((8, 8), np.int64)
    gt[:4], gt[4:] = 1, 2
    mmcv.imwrite(id2rgb(gt)[:, :, ::-1].astype(np.uint8), str(tmp_path / 'img.png'))
    pred = torch.full((1, 8, 8), VOID, dtype=torch.int64)
    pred[0, :4] = 0 + 1 * OFFSET  # person, instance 1
    pred[0, 4:, :4] = 1  # sky
    return dict(img_id=0, img_path=str(tmp_path / 'img.jpg'), ori_shape=(8, 8),
                segments_info=[dict(id=1, category=0, is_thing=1),
                               dict(id=2, category=1, is_thing=0)],
                pred_panoptic_seg=dict(sem_seg=pred))


def _score(metric, sample):
    metric.dataset_meta = META
    metric.process({}, [sample])
    return metric.compute_metrics(metric.results)


def test_scores_like_mmdet_and_keeps_the_prediction(tmp_path):
    with DefaultScope.overwrite_default_scope('mmdet'):  # a config's scope
        metric = METRICS.build(dict(type='CocoPanopticMetric', seg_prefix=str(tmp_path)))
    assert type(metric) is CocoPanopticMetric
    sample = _sample(tmp_path)
    before = sample['pred_panoptic_seg']['sem_seg'].clone()
    ours = _score(metric, sample)
    assert torch.equal(sample['pred_panoptic_seg']['sem_seg'], before)

    theirs_sample = copy.deepcopy(_sample(tmp_path))
    theirs = _score(MMDetCocoPanopticMetric(seg_prefix=str(tmp_path)), theirs_sample)
    assert ours == theirs
    # person matched (IoU 1), sky matched (IoU 0.5 is not > 0.5: unmatched)
    assert ours['PQ_th'] == 100 and ours['PQ_st'] == 0
    # mmdet's own metric writes COCO's VOID (0, i.e. class 0) over the void
    # pixels of the map it was given: the reason for the subclass
    assert (theirs_sample['pred_panoptic_seg']['sem_seg'] == VOID).sum() == 0
