"""The paper's baselines (Mask2Former individual / joint, MaskFormer) train on the toy
dataset on their task's targets, and each gives PQ, mask AP and mIoU in one test run;
tools/benchmarks/compare_toy.py puts them next to OneFormer in one table."""
import json
import os.path as osp

import pytest
import torch
from mmengine.config import Config
from mmengine.registry import init_default_scope

import projects.oneformer  # noqa: F401
from mmdet.registry import DATASETS, MODELS
from tests.utils import REPO, _load_tool, make_toy_dataset

compare_toy = _load_tool('tools/benchmarks/compare_toy.py')
NUM_THINGS = 3


@pytest.fixture(scope='module')
def toy_root(tmp_path_factory):
    return make_toy_dataset(str(tmp_path_factory.mktemp('baselines') / 'toy'),
                            num_train=4, num_val=2, size=64)


def _train_sample(config, root, index):
    cfg = compare_toy.toy_config(config, root, '/tmp/unused', 1)
    init_default_scope('mmdet')
    dataset = DATASETS.build(cfg.train_dataloader.dataset)
    return cfg, dataset[index]['data_samples']


@pytest.mark.parametrize('task', ['panoptic', 'instance', 'semantic'])
def test_individual_configs_train_on_their_task_targets(toy_root, task):
    config = f'configs/mask2former/mask2former_r18_toy-{task}.py'
    for index in range(2):
        cfg, sample = _train_sample(config, toy_root, index)
        assert sample.task == task
        labels = sample.gt_instances.labels.tolist()
        things = [label for label in labels if label < NUM_THINGS]
        stuff = [label for label in labels if label >= NUM_THINGS]
        assert len(stuff) == len(set(stuff))  # one mask per stuff class
        if task == 'instance':
            assert things and not stuff
        elif task == 'semantic':
            assert stuff and len(things) == len(set(things))
        else:
            assert stuff
        # no semantic map is packed, so mmdet's head trains on these masks as they are
        assert 'gt_sem_seg' not in sample
        head = MODELS.build(dict(cfg.model.panoptic_head, train_cfg=cfg.model.train_cfg))
        target, = head.preprocess_gt([sample.gt_instances], [None])
        assert target.labels.tolist() == labels
        assert torch.equal(target.masks.bool(),
                           sample.gt_instances.masks.to_tensor(torch.bool, 'cpu'))


def test_joint_config_samples_tasks_like_oneformer():
    joint = Config.fromfile(
        osp.join(REPO, 'configs/mask2former/mask2former_r18_toy-joint.py'))
    oneformer = Config.fromfile(osp.join(REPO, 'configs/oneformer_r18_toy.py'))
    assert joint.train_pipeline == oneformer.train_pipeline
    assert joint.optim_wrapper == oneformer.optim_wrapper
    assert joint.param_scheduler == oneformer.param_scheduler
    assert joint.model.backbone == oneformer.model.backbone
    head = joint.model.panoptic_head
    assert head.type == 'Mask2FormerHead'
    assert 'query_initialiser' not in head and 'loss_contrastive' not in head
    assert 'text_mapper' not in head and 'task_encoder' not in head


def test_compare_toy_trains_every_baseline_and_reports_three_metrics(
        toy_root, tmp_path):
    work_dir = str(tmp_path / 'compare')
    report = compare_toy.compare(2, work_dir, toy_root,
                                 models=list(compare_toy.MODELS))
    assert set(report['models']) == set(compare_toy.MODELS)
    for name, result in report['models'].items():
        # all three metrics from the one test run of every model
        for metric in ('PQ', 'AP', 'mIoU'):
            assert isinstance(result[metric], float), (name, metric)
        assert result['mIoU'] > 0, name  # a semantic output was scored
        assert result['params']['test'] > 0
    params = {n: r['params'] for n, r in report['models'].items()}
    # OneFormer's text mapper and contrastive loss are training-only
    assert params['OneFormer']['test'] < params['OneFormer']['train']
    assert params['Mask2Former-Joint']['test'] == params['Mask2Former-Joint']['train']
    rows = {row['model']: row for row in report['table']}
    assert set(rows) == {'OneFormer', 'Mask2Former (3 individual)',
                         'Mask2Former-Joint', 'MaskFormer'}
    individual = rows['Mask2Former (3 individual)']
    assert individual['trainings'] == 3
    assert individual['params'] == sum(
        params[f'Mask2Former-{t}']['test'] for t in ('Panoptic', 'Instance', 'Semantic'))
    assert individual['AP'] == report['models']['Mask2Former-Instance']['AP']
    with open(osp.join(work_dir, 'comparison.json')) as f:
        assert json.load(f)['table'] == report['table']
    with open(osp.join(work_dir, 'comparison.md')) as f:
        assert '| Mask2Former (3 individual) | 3 |' in f.read()


@pytest.mark.parametrize('config,num_classes', [
    ('mask2former_r50_8xb2-160k_ade20k-joint', 150),
    ('mask2former_r50_8xb2-90k_cityscapes-joint', 19),
    ('mask2former_r50_8xb2-368750i_coco-joint', 133),
])
def test_paper_joint_configs_build_mask2former_r50(config, num_classes):
    cfg = Config.fromfile(osp.join(REPO, 'configs/mask2former', config + '.py'))
    cfg.model.backbone.init_cfg = None  # offline
    init_default_scope('mmdet')
    model = MODELS.build(cfg.model)
    assert type(model).__name__ == 'Mask2Former'
    assert model.num_classes == num_classes
    assert model.panoptic_head.cls_embed.out_features == num_classes + 1
    assert type(model.panoptic_fusion_head).__name__ == 'SemanticMaskFormerFusionHead'
    assert all(model.test_cfg[f'{t}_on'] for t in ('panoptic', 'instance', 'semantic'))
    sampling, = [t for t in cfg.train_pipeline if t['type'] == 'OneFormerTaskSampling']
    assert 'task' not in sampling  # sampled per image
    metrics = {e['type'] for e in cfg.test_evaluator}
    # Cityscapes: instance AP from cityscapesscripts, as the release scores it
    instance = 'CityScapesMetric' if 'cityscapes' in config else 'CocoMetric'
    assert metrics == {'CocoPanopticMetric', instance, 'SemSegMetric'}


@pytest.mark.parametrize('dataset', ['160k_ade20k', '90k_cityscapes', '368750i_coco'])
@pytest.mark.parametrize('task', ['panoptic', 'instance', 'semantic'])
def test_paper_individual_configs_fix_the_task(task, dataset):
    cfg = Config.fromfile(osp.join(
        REPO, f'configs/mask2former/mask2former_r50_8xb2-{dataset}-{task}.py'))
    joint = Config.fromfile(osp.join(
        REPO, f'configs/mask2former/mask2former_r50_8xb2-{dataset}-joint.py'))
    sampling, = [t for t in cfg.train_dataloader.dataset.pipeline
                 if t['type'] == 'OneFormerTaskSampling']
    assert sampling['task'] == task
    # everything else is the joint recipe of the dataset
    assert cfg.model == joint.model and cfg.train_cfg == joint.train_cfg
    assert cfg.test_evaluator == joint.test_evaluator


@pytest.mark.parametrize('config,num_classes,task', [
    ('maskformer_r50_8xb2-160k_ade20k-semantic', 150, 'semantic'),
    ('maskformer_r50_8xb2-368750i_coco-panoptic', 133, 'panoptic'),
])
def test_paper_maskformer_configs_build_maskformer_r50(config, num_classes, task):
    cfg = Config.fromfile(osp.join(REPO, 'configs/maskformer', config + '.py'))
    cfg.model.backbone.init_cfg = None  # offline
    init_default_scope('mmdet')
    model = MODELS.build(cfg.model)
    assert type(model).__name__ == 'MaskFormer'
    assert type(model.panoptic_head).__name__ == 'MaskFormerHead'
    assert model.panoptic_head.num_classes == num_classes
    assert model.panoptic_head.cls_embed.out_features == num_classes + 1
    assert len(model.panoptic_head.transformer_decoder.layers) == 6
    assert type(model.panoptic_fusion_head).__name__ == 'SemanticMaskFormerFusionHead'
    sampling, = [t for t in cfg.train_dataloader.dataset.pipeline
                 if t['type'] == 'OneFormerTaskSampling']
    assert sampling['task'] == task
