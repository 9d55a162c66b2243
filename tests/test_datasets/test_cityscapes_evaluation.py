"""Cityscapes scored as the release scores it, end to end through the dataset config
(configs/_base_/datasets/cityscapes_panoptic.py) on a tiny gtFine fixture: PQ
(CocoPanopticMetric), instance AP (mmdet's CityScapesMetric, i.e. cityscapesscripts'
instance-level evaluation on the *_gtFine_instanceIds.png) and mIoU (SemSegMetric,
which must give cityscapesscripts' pixel-level IoU on the *_gtFine_labelIds.png), in
one TaskMetricsTableHook table.

Predictions are built from the gtFine PNGs, not from the converted panoptic files.
The imperfect ones are also written out here in the release's file formats and
scored with cityscapesscripts' own evaluation functions: the expected values."""
import json
import os.path as osp

import numpy as np
import pytest
import torch
from cityscapesscripts.evaluation import evalInstanceLevelSemanticLabeling as cs_instance
from cityscapesscripts.evaluation import evalPixelLevelSemanticLabeling as cs_pixel
from cityscapesscripts.helpers.labels import id2label, name2label
from mmdet.evaluation.functional import INSTANCE_OFFSET
from mmdet.registry import DATASETS
from mmdet.structures.mask import mask2bbox
from mmengine.evaluator import Evaluator
from mmengine.logging import MMLogger
from mmengine.structures import InstanceData, PixelData
from PIL import Image

import projects.oneformer  # noqa: F401
from projects.oneformer.engine import (TaskMetricsTableHook, format_task_metrics,
                                       task_evaluators, task_metrics)
from tests.test_datasets.test_dataset_configs import load_config
from tests.test_tools import dataset_fixtures as fx
from tests.utils import _load_tool

pytestmark = pytest.mark.filterwarnings(
    'ignore:__array__ implementation:DeprecationWarning')
city = _load_tool('tools/dataset_converters/cityscapes_panoptic.py')
box = fx.box

# cityscapesscripts scores ground-truth instances of >= 100 px only: these are
# 120-144 px; the rider on the sky (16 px) is too small, the car group is crowd.
IMAGES = {
    ('frankfurt', 'frankfurt_000000_000294'): [
        (box(0, 8, 0, 64), 23), (box(8, 32, 0, 64), 7),           # sky, road
        (box(12, 22, 2, 14), 26000), (box(12, 22, 18, 30), 26001),  # cars
        (box(2, 14, 40, 50), 24000),                              # person
        (box(24, 30, 40, 56), 26),                                # car group: crowd
        (box(4, 8, 56, 60), 25000),                               # small rider
        (box(30, 32, 0, 64), 1)],                                 # ego vehicle: void
    ('lindau', 'lindau_000001_000019'): [
        (box(0, 32, 0, 64), 21), (box(0, 6, 40, 64), 22),         # vegetation, terrain
        (box(4, 16, 4, 14), 25000), (box(16, 28, 4, 16), 33000),  # rider, bicycle
        (box(28, 32, 0, 64), 9)],                                 # parking: void
}


@pytest.fixture(scope='module')
def root(tmp_path_factory):
    root = fx.write_cityscapes(str(tmp_path_factory.mktemp('cityscapes')), IMAGES)
    city.main([root, '--splits', 'val'])
    return root


def gt_file(img_path, kind):
    """The gtFine PNG (``kind`` 'instanceIds' or 'labelIds') of an image."""
    rel = img_path.replace(osp.join('leftImg8bit', ''), osp.join('gtFine', ''))
    return rel.replace('_leftImg8bit.png', f'_gtFine_{kind}.png')


def read_gt(img_path):
    return np.asarray(Image.open(gt_file(img_path, 'instanceIds'))).astype(np.int64)


def evaluated(label_id):
    return not id2label[label_id].ignoreInEval


def gt_instances(inst):
    """(instanceIds value, label id, mask) of every evaluated thing instance."""
    return [(v, v // 1000, inst == v) for v in np.unique(inst).tolist()
            if v >= 1000 and evaluated(v // 1000)]


def predict(sample, classes, instances, semantic):
    """Attach the three predictions. ``instances``: (label id, mask, score);
    ``semantic``: a label-id map (void pixels get some class, like a model). The
    panoptic one is the ground truth (crowd regions as an instance)."""
    index = {name: i for i, name in enumerate(classes)}
    to_label = np.full(256, 255, np.int64)
    for label in id2label.values():
        if 0 <= label.id < 256 and label.name in index:
            to_label[label.id] = index[label.name]
    inst = read_gt(sample.img_path)
    label_ids = np.where(inst < 1000, inst, inst // 1000)
    pan = np.full(inst.shape, len(classes), np.int64)
    for k, value in enumerate(np.unique(inst).tolist(), start=1):
        label = to_label[label_ids[inst == value][0]]
        if label == 255:
            continue
        thing = id2label[int(label_ids[inst == value][0])].hasInstances
        pan[inst == value] = label + k * INSTANCE_OFFSET if thing else label
    masks = torch.from_numpy(np.stack([m for _, m, _ in instances]))
    sample.pred_panoptic_seg = PixelData(sem_seg=torch.from_numpy(pan)[None])
    sample.pred_instances = InstanceData(
        masks=masks,
        labels=torch.tensor([int(to_label[i]) for i, _, _ in instances]),
        scores=torch.tensor([s for _, _, s in instances], dtype=torch.float32),
        bboxes=mask2bbox(masks))
    assert (to_label[semantic] != 255).all()  # a model predicts no void
    sample.pred_sem_seg = PixelData(sem_seg=torch.from_numpy(to_label[semantic])[None])
    return sample


def perfect(img_path):
    inst = read_gt(img_path)
    instances = [(label_id, mask, 1.0) for _, label_id, mask in gt_instances(inst)]
    semantic = np.where(inst < 1000, inst, inst // 1000)
    semantic[~np.vectorize(evaluated)(semantic)] = 23  # void: sky
    return instances, semantic


def region(shape, rows_cols):
    mask = np.zeros(shape, bool)
    mask[rows_cols] = True
    return mask


def imperfect(img_path):
    """Misses, a false positive, a loose mask, a wrong class, a prediction on the
    crowd region (ignored), and semantic errors on stuff and things."""
    inst = read_gt(img_path)
    instances, semantic = perfect(img_path)
    by_value = {v: (label_id, mask) for v, label_id, mask in gt_instances(inst)}
    shape = inst.shape
    if 'frankfurt' in img_path:
        instances = [
            (26, by_value[26000][1], 0.8),                    # car; the other missed
            (24, region(shape, box(2, 14, 40, 48)), 0.9),      # person, IoU 0.8
            (24, region(shape, box(16, 28, 34, 38)), 0.95),    # on the road: FP
            (26, region(shape, box(24, 30, 40, 56)), 0.99),    # the crowd: ignored
        ]
        semantic[0:4, 0:32] = name2label['building'].id
        semantic[12:22, 2:8] = name2label['road'].id
    else:
        instances = [
            (33, by_value[33000][1], 0.6),                    # bicycle
            (24, by_value[25000][1], 0.7),                    # the rider, as person
        ]
        semantic[0:6, 40:52] = name2label['vegetation'].id
    return instances, semantic


def run_config(root, tmp_path, make_prediction):
    """The config's evaluators on the fixture; the predictions also written in the
    release's formats (instance masks + txt, label-id PNGs) under tmp_path/release."""
    cfg = load_config('cityscapes_panoptic.py', root, tmp_path)
    assert [m['type'] for m in cfg.test_evaluator] == [
        'CocoPanopticMetric', 'CityScapesMetric', 'SemSegMetric']
    ds = DATASETS.build(cfg.test_dataloader.dataset)
    evaluator = Evaluator(cfg.test_evaluator)
    evaluator.dataset_meta = ds.metainfo
    release = tmp_path / 'release'
    release.mkdir()
    files = dict(instance_gt=[], instance_pred=[], pixel_gt=[], pixel_pred=[])
    for idx in range(len(ds)):
        sample = ds[idx]['data_samples']
        instances, semantic = make_prediction(sample.img_path)
        evaluator.process([predict(sample, ds.metainfo['classes'], instances,
                                   semantic)])
        stem = osp.basename(sample.img_path)[:-len('_leftImg8bit.png')]
        with open(release / f'{stem}_pred.txt', 'w') as f:
            for i, (label_id, mask, score) in enumerate(instances):
                Image.fromarray(mask.astype(np.uint8) * 255).save(
                    release / f'{stem}_{i}.png')
                f.write(f'{stem}_{i}.png {label_id} {score}\n')
        Image.fromarray(semantic.astype(np.uint8)).save(release / f'{stem}_sem.png')
        files['instance_gt'].append(gt_file(sample.img_path, 'instanceIds'))
        files['instance_pred'].append(str(release / f'{stem}_pred.txt'))
        files['pixel_gt'].append(gt_file(sample.img_path, 'labelIds'))
        files['pixel_pred'].append(str(release / f'{stem}_sem.png'))
    return evaluator.evaluate(len(ds)), files


def cityscapesscripts_scores(files, tmp_path, monkeypatch):
    """AP, AP50 and mIoU (%) from cityscapesscripts' own evaluation functions, as
    the released CityscapesInstanceEvaluator / CityscapesSemSegEvaluator call them.
    The instance one is its ``evaluateImgLists`` step by step, less the dump of
    matches.json (which numpy 2's integers cannot be written to)."""
    monkeypatch.chdir(tmp_path)
    args = cs_instance.args
    for key, value in dict(predictionPath=str(tmp_path / 'release'), JSONOutput=False,
                           colorized=False, quiet=True,
                           gtInstancesFile=str(tmp_path / 'gtInstances.json')).items():
        monkeypatch.setattr(args, key, value)
    cs_instance.setInstanceLabels(args)
    gt = cs_instance.getGtInstances(files['instance_gt'], args)
    matches = cs_instance.matchGtWithPreds(files['instance_pred'], files['instance_gt'],
                                           gt, args)
    ap = cs_instance.computeAverages(cs_instance.evaluateMatches(matches, args), args)
    args = cs_pixel.args
    for key, value in dict(JSONOutput=False, colorized=False, quiet=True).items():
        monkeypatch.setattr(args, key, value)
    pixel = cs_pixel.evaluateImgLists(files['pixel_pred'], files['pixel_gt'], args)
    return (100 * ap['allAp'], 100 * ap['allAp50%'],
            100 * pixel['averageScoreClasses'])


def test_fixture_is_cityscapes_layout(root):
    for (city_name, stem), _ in IMAGES.items():
        for kind in ('instanceIds', 'labelIds'):
            assert osp.exists(osp.join(root, 'gtFine', 'val', city_name,
                                       f'{stem}_gtFine_{kind}.png'))
    inst = read_gt(osp.join(root, 'leftImg8bit', 'val', 'lindau',
                            'lindau_000001_000019_leftImg8bit.png'))
    assert [(v, m.sum()) for v, _, m in gt_instances(inst)] == [(25000, 120),
                                                                 (33000, 144)]


def test_perfect_predictions_score_100(root, tmp_path, monkeypatch):
    metrics, files = run_config(root, tmp_path, perfect)
    assert metrics['coco_panoptic/PQ'] == pytest.approx(100.0)
    assert metrics['cityscapes/mAP'] == pytest.approx(1.0)
    assert metrics['cityscapes/AP@50'] == pytest.approx(1.0)
    assert metrics['sem_seg/mIoU'] == pytest.approx(100.0)
    assert cityscapesscripts_scores(files, tmp_path, monkeypatch) == pytest.approx(
        (100.0, 100.0, 100.0))
    # the one-run table: PQ, AP, mIoU and where each comes from
    table = task_metrics(metrics)
    assert (table['panoptic']['PQ'], table['instance'], table['semantic']['mIoU']) \
        == (100.0, dict(AP=100.0, AP50=100.0), 100.0)
    evaluators = task_evaluators(metrics)
    assert evaluators == dict(panoptic='CocoPanopticMetric',
                              instance='CityScapesMetric', semantic='SemSegMetric')
    text = format_task_metrics(table, evaluators)
    assert '| instance | AP ' in text and 'CityScapesMetric' in text


def test_imperfect_predictions_match_cityscapesscripts(root, tmp_path, monkeypatch):
    metrics, files = run_config(root, tmp_path, imperfect)
    ap, ap50, miou = cityscapesscripts_scores(files, tmp_path, monkeypatch)
    assert 0 < miou < 100  # the errors count
    # by hand, per class over the 10 IoU thresholds: car 0.5 (one of two found),
    # bicycle 1, rider 0 (predicted as person), person 0.25 while the loose mask
    # (IoU 0.8) matches, i.e. at 0.5..0.75 (ranked FP 0.95, TP 0.9, FP 0.7), else 0
    assert (ap, ap50) == pytest.approx(
        (100 * (0.5 + 1 + 0 + 0.6 * 0.25) / 4, 100 * (0.5 + 1 + 0 + 0.25) / 4))
    assert 100 * metrics['cityscapes/mAP'] == pytest.approx(ap, abs=1e-9)
    assert 100 * metrics['cityscapes/AP@50'] == pytest.approx(ap50, abs=1e-9)
    # SemSegMetric rounds to 2 decimals
    assert metrics['sem_seg/mIoU'] == pytest.approx(miou, abs=0.005 + 1e-9)

    class Runner:
        rank, iter, work_dir = 0, 5, str(tmp_path)

    MMLogger.get_instance('cityscapes-table')
    TaskMetricsTableHook().after_test_epoch(Runner(), metrics)
    saved = json.loads((tmp_path / 'task_metrics_test.json').read_text())
    assert saved['instance']['AP'] == round(ap, 2)
    assert saved['instance']['AP50'] == round(ap50, 2)
    assert saved['semantic']['mIoU'] == pytest.approx(miou, abs=0.005 + 1e-9)
    assert saved['evaluators']['instance'] == 'CityScapesMetric'
