"""Panoptic SegFormer on the toy dataset: losses fall in a short training run
and one test run reports PQ, mask AP and mIoU; edge cases of the head."""
import numpy as np
import pytest
import torch
from mmengine.config import Config
from mmengine.hooks import Hook
from mmengine.registry import init_default_scope
from mmengine.runner import Runner
from mmengine.structures import InstanceData, PixelData

from tests.utils import make_toy_dataset

CONFIG = 'configs/panoptic_segformer/panoptic-segformer_r50_toy.py'
SIZE = 64
ITERS = 50
WINDOW = 10


def tiny_config(data_root: str = None, work_dir: str = None) -> Config:
    """The toy config with a tiny model (ResNet-18 at 16 base channels, 32
    embed dims, 1 encoder / 2 decoder / 1+1 mask decoder layers, 20
    queries) on 64x64 toy images."""
    import projects.panoptic_segformer  # noqa: F401  (registers the modules)
    cfg = Config.fromfile(CONFIG)
    m = cfg.model
    m.backbone.update(depth=18, base_channels=16)
    m.neck.update(in_channels=[32, 64, 128], out_channels=32,
                  norm_cfg=dict(type='GN', num_groups=8))
    m.encoder.num_layers, m.decoder.num_layers = 1, 2
    deform = dict(embed_dims=32, num_heads=4, num_points=2)
    ffn = dict(embed_dims=32, feedforward_channels=64, ffn_drop=0.)
    m.encoder.layer_cfg.update(self_attn_cfg=deform, ffn_cfg=ffn)
    m.decoder.layer_cfg.update(
        self_attn_cfg=dict(embed_dims=32, num_heads=4, attn_drop=0.,
                           batch_first=True),
        cross_attn_cfg=deform, ffn_cfg=ffn)
    m.positional_encoding.num_feats = 16
    m.num_queries = 20
    m.bbox_head.embed_dims = 32
    m.bbox_head.thing_mask_decoder.update(num_layers=1, num_heads=4)
    m.bbox_head.stuff_mask_decoder.update(num_layers=1, num_heads=4)
    if data_root is None:
        return cfg
    for pipe in (cfg.train_pipeline, cfg.test_pipeline):
        for t in pipe:
            for key in ('scale', 'crop_size'):
                if key in t:
                    t[key] = (SIZE, SIZE)
    cfg.train_dataloader.dataset.pipeline = cfg.train_pipeline
    cfg.test_dataloader.dataset.pipeline = cfg.test_pipeline
    cfg.val_dataloader.dataset.pipeline = cfg.test_pipeline
    for split in ('train', 'val', 'test'):
        cfg[f'{split}_dataloader'].dataset.data_root = data_root + '/'
    for split in ('val', 'test'):
        ev = cfg[f'{split}_evaluator']
        ev[0].ann_file = f'{data_root}/annotations/panoptic_val.json'
        ev[0].seg_prefix = f'{data_root}/annotations/panoptic_val/'
        ev[1].ann_file = f'{data_root}/annotations/instances_val.json'
    cfg.train_cfg.update(max_iters=ITERS, val_interval=ITERS + 1)
    cfg.param_scheduler = []
    cfg.optim_wrapper.optimizer.lr = 1e-3
    cfg.optim_wrapper.clip_grad = dict(max_norm=1.0, norm_type=2)
    cfg.default_hooks.checkpoint = dict(type='CheckpointHook', interval=-1)
    cfg.default_hooks.logger.interval = WINDOW
    cfg.randomness = dict(seed=0)
    cfg.work_dir = work_dir
    return cfg


class LossRecorder(Hook):
    """Keeps the total loss of every training iteration."""

    def __init__(self):
        self.losses = []

    def after_train_iter(self, runner, batch_idx, data_batch=None,
                         outputs=None):
        self.losses.append(float(outputs['loss']))


@pytest.fixture(scope='module')
def trained(tmp_path_factory):
    root = make_toy_dataset(str(tmp_path_factory.mktemp('toy')), num_train=4,
                            num_val=2, size=SIZE)
    cfg = tiny_config(root, str(tmp_path_factory.mktemp('work')))
    runner = Runner.from_cfg(cfg)
    recorder = LossRecorder()
    runner.register_hook(recorder)
    runner.train()
    return runner, recorder.losses


def test_toy_training_losses_fall(trained):
    _, losses = trained
    assert len(losses) == ITERS and all(np.isfinite(losses))
    first = np.mean(losses[:WINDOW])
    last = np.mean(losses[-WINDOW:])
    print(f'total loss: first {WINDOW} iters {first:.3f}, last {WINDOW} '
          f'iters {last:.3f}')
    assert last < 0.8 * first


def test_toy_one_run_reports_pq_ap_miou(trained):
    runner, _ = trained
    metrics = runner.test()
    print({k: round(float(v), 4) for k, v in metrics.items()})
    for key in ('coco_panoptic/PQ', 'coco/segm_mAP', 'sem_seg/mIoU'):
        assert key in metrics


def _sample(things: bool, hw=(48, 64), ori=(96, 128)):
    from mmdet.structures import DetDataSample
    from mmdet.structures.mask import BitmapMasks
    h, w = hw
    sample = DetDataSample(metainfo=dict(
        img_shape=hw, batch_input_shape=(64, 64), ori_shape=ori,
        scale_factor=(w / ori[1], h / ori[0]), pad_shape=(64, 64)))
    masks = np.zeros((1 if things else 0, h, w), np.uint8)
    sem = torch.full((1, h, w), 3)
    sem[:, h // 2:] = 6
    if things:
        masks[0, 4:20, 8:30] = 1
        sem[:, 4:20, 8:30] = 1
    sample.gt_instances = InstanceData(
        bboxes=torch.tensor([[8., 4, 30, 20]][:len(masks)]).view(-1, 4),
        labels=torch.tensor([1][:len(masks)], dtype=torch.long),
        masks=BitmapMasks(masks, h, w))
    sample.gt_sem_seg = PixelData(sem_seg=sem)
    return sample


def test_loss_without_things_and_predict_outputs():
    from mmdet.registry import MODELS
    init_default_scope('mmdet')
    model = MODELS.build(tiny_config().model)
    model.init_weights()
    inputs = torch.randn(2, 3, 64, 64)
    samples = [_sample(False), _sample(True)]
    losses = model.loss(inputs, samples)
    assert {'loss_mask_things', 'loss_mask_stuff', 'd0.loss_cls_stuff',
            'd0.loss_mask_things', 'loss_cls', 'd0.loss_bbox'} <= set(losses)
    total = sum(losses.values())
    assert torch.isfinite(total)
    total.backward()
    # A batch without any thing still gives (zero) thing mask losses.
    losses = model.loss(inputs[:1], [_sample(False)])
    assert float(losses['loss_mask_things']) == 0
    model.eval()
    with torch.no_grad():
        out = model.predict(inputs, [_sample(True), _sample(True)])[0]
    assert out.pred_panoptic_seg.sem_seg.shape == (1, 96, 128)
    assert out.pred_sem_seg.sem_seg.shape == (1, 96, 128)
    ins = out.pred_instances
    assert ins.masks.shape[1:] == (96, 128) and ins.bboxes.shape[1] == 4
    assert len(ins) == len(ins.scores) == len(ins.labels) <= 100
    assert (ins.labels < 3).all() and (ins.scores[:-1] >= ins.scores[1:]).all()
