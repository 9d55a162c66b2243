"""OneFormerSegHead: targets and texts, mmdet equivalence, inference modes."""
import open_clip
import pytest
import torch
import torch.nn.functional as F
from mmengine.config import Config, ConfigDict
from mmengine.registry import init_default_scope
from mmengine.structures import PixelData

from mmdet.structures import DetDataSample
from mmseg.registry import MODELS
from mmseg.structures import SegDataSample
from projects.oneformer.converters import retarget
from projects.oneformer.datasets.ade20k import ADE20K_CATEGORIES
from tests.test_models.tiny_oneformer import (NUM_CLASSES, NUM_QUERIES,
                                              TEXT_CTX, build_tiny_model)
from tests.test_mmseg.tiny import ROOT, build_segmentor, tiny_options

CONFIGS = ROOT / 'configs/mmseg'


def seg_sample(shape, gt=None):
    sample = SegDataSample(metainfo=dict(img_shape=shape, ori_shape=shape))
    if gt is not None:
        sample.gt_sem_seg = PixelData(data=gt)
    return sample


def test_semantic_targets_and_released_texts():
    head = build_segmentor(num_decoder_layers=2).decode_head
    gt = torch.full((1, 32, 32), 255, dtype=torch.long)
    gt[:, :16] = 6
    gt[:, 16:, :8] = 2
    (gt_instances, ), _ = head._seg_data_to_instance_data(
        [seg_sample((32, 32), gt)])
    order = gt_instances.labels.argsort()
    assert gt_instances.labels[order].tolist() == [2, 6]
    for label, mask in zip(gt_instances.labels, gt_instances.masks):
        assert mask.bool().equal(gt[0] == label)
    # released rule: one text per class in class order with the released raw
    # ADE20K names ('road, route', not mmseg's 'road'), then the padding
    names = [name for name, _, _ in ADE20K_CATEGORIES]
    texts = [f'a photo with a {names[2]}', f'a photo with a {names[6]}']
    texts += ['a semantic photo'] * (NUM_QUERIES - TEXT_CTX - len(texts))
    assert head.text_list.tokens('semantic', gt_instances.labels.numpy(),
                                 head.num_texts).equal(open_clip.tokenize(texts))


def test_same_semantic_map_as_mmdet_model():
    """Weights of the mmdet model, moved by the converter's prefix
    translation, give the mmseg segmentor the same semantic map."""
    det = build_tiny_model()
    seg = build_segmentor(text_mapper=False, num_classes=NUM_CLASSES)
    seg.load_state_dict(retarget(det.state_dict(), 'mmseg'), strict=True)
    img = torch.randint(0, 256, (3, 50, 70), dtype=torch.uint8)

    det_data = det.data_preprocessor(
        dict(
            inputs=[img],
            data_samples=[
                DetDataSample(
                    metainfo=dict(
                        img_shape=(50, 70),
                        ori_shape=(50, 70),
                        task='semantic'))
            ]), False)
    seg_data = seg.data_preprocessor(
        dict(inputs=[img], data_samples=[seg_sample((50, 70))]), False)
    # both pad to a multiple of 32 (64 x 96) after normalisation
    assert det_data['inputs'].shape == (1, 3, 64, 96)
    assert det_data['inputs'].equal(seg_data['inputs'])
    with torch.no_grad():
        det_result, = det(**det_data, mode='predict')
        # released semantic scores from the mmdet head's raw outputs
        cls_pred, mask_pred = det.panoptic_head.predict(
            det.extract_feat(det_data['inputs']), det_data['data_samples'],
            ['semantic'])
        mask_pred = F.interpolate(mask_pred, (64, 96), mode='bilinear',
                                  align_corners=False)
        det_scores = torch.einsum('qk,qhw->khw',
                                  F.softmax(cls_pred[0], -1)[:, :-1],
                                  mask_pred[0, :, :50, :70].sigmoid())
        seg_result, = seg(**seg_data, mode='predict')
    seg_scores = seg_result.seg_logits.data
    assert seg_scores.shape == (NUM_CLASSES, 50, 70)
    max_diff = (seg_scores - det_scores).abs().max().item()
    print(f'max |mmseg - mmdet| semantic score: {max_diff:.3g}')
    assert max_diff <= 1e-5
    assert seg_result.pred_sem_seg.data.equal(
        det_result.pred_sem_seg.sem_seg)


def test_slide_inference_matches_whole():
    seg = build_segmentor(text_mapper=False, num_decoder_layers=2)
    img = torch.randint(0, 256, (3, 50, 70), dtype=torch.uint8)

    def run(**test_cfg):
        seg.test_cfg = ConfigDict(test_cfg)
        with torch.no_grad():
            result, = seg.test_step(
                dict(inputs=[img], data_samples=[seg_sample((50, 70))]))
        return result.seg_logits.data

    whole = run(mode='whole')
    # one window covering the padded input is whole inference
    torch.testing.assert_close(
        run(mode='slide', crop_size=(64, 96), stride=(64, 96)), whole)
    # 3 x 4 overlapping 32 x 32 windows: the head answers at crop size
    windows = run(mode='slide', crop_size=(32, 32), stride=(24, 24))
    assert windows.shape == whole.shape == (150, 50, 70)
    assert torch.isfinite(windows).all()


def test_inference_head_loads_trained_checkpoint():
    """An inference head (no text mapper, no contrastive loss) ignores the
    training-only keys of a trained checkpoint."""
    trained = build_segmentor(num_decoder_layers=2).state_dict()
    assert any('decode_head.text_mapper.' in k for k in trained)
    assert 'decode_head.loss_contrastive.logit_scale' in trained
    seg = build_segmentor(text_mapper=False, num_decoder_layers=2)
    seg.load_state_dict(trained, strict=True)


@pytest.mark.parametrize('name, num_classes, num_queries, in_channels', [
    ('oneformer_r50_8xb2-160k_ade20k-512x512', 150, 150, 256),
    ('oneformer_swin-l_8xb2-160k_ade20k-640x640', 150, 250, 192),
    ('oneformer_r50_8xb2-90k_cityscapes-512x1024', 19, 150, 256),
])
def test_released_numbers(name, num_classes, num_queries, in_channels):
    cfg = Config.fromfile(str(CONFIGS / f'{name}.py'))
    init_default_scope('mmseg')
    head = MODELS.build(cfg.model.decode_head)
    assert head.num_classes == num_classes
    assert head.cls_embed.out_features == num_classes + 1
    assert head.query_embed.num_embeddings == num_queries
    assert head.pixel_decoder.lateral_convs[0].conv.in_channels == in_channels
    # N_text + 16 context embeddings = N queries
    assert head.num_texts == num_queries - 16
    assert len(head.text_list.class_names) == num_classes
    assert len(head.transformer_decoder.layers) == 9
    assert head.num_points == 12544
    assert head.loss_cls.class_weight[-1] == 0.1
    assert [head.loss_cls.loss_weight, head.loss_mask.loss_weight,
            head.loss_dice.loss_weight,
            head.loss_contrastive.loss_weight] == [2.0, 5.0, 5.0, 0.5]
    optim = cfg.optim_wrapper
    assert optim.optimizer.type == 'AdamW'
    assert (optim.optimizer.lr, optim.optimizer.weight_decay) == (1e-4, 0.05)
    assert optim.paramwise_cfg.custom_keys.backbone.lr_mult == 0.1
    poly, = cfg.param_scheduler
    assert (poly.type, poly.power, poly.eta_min) == ('PolyLR', 0.9, 0)
    assert poly.end == cfg.train_cfg.max_iters


def test_cityscapes_param_groups():
    """Released optimisation with trained BN: backbone lr x0.1, no weight
    decay on norms and embedding tables."""
    from mmengine.optim import build_optim_wrapper
    config = CONFIGS / 'oneformer_r50_8xb2-90k_cityscapes-512x1024.py'
    cfg = Config.fromfile(str(config))
    cfg.merge_from_dict(
        tiny_options(config=config, num_decoder_layers=2, num_classes=19))
    cfg.model.backbone.norm_cfg.type = 'BN'  # SyncBN needs a process group
    init_default_scope('mmseg')
    model = MODELS.build(cfg.model)
    optim_wrapper = build_optim_wrapper(model, cfg.optim_wrapper)
    params = dict(model.named_parameters())
    groups = {
        name: (group['lr'], group['weight_decay'])
        for group in optim_wrapper.optimizer.param_groups
        for name, param in params.items() if param is group['params'][0]
    }
    backbone_norm, backbone = (1e-5, 0.0), (1e-5, 0.05)
    no_decay, head = (1e-4, 0.0), (1e-4, 0.05)
    expected = {
        'backbone.bn1.weight': backbone_norm,
        'backbone.layer1.0.bn3.bias': backbone_norm,
        'backbone.layer2.0.downsample.1.weight': backbone_norm,
        'backbone.layer2.0.downsample.0.weight': backbone,
        'backbone.layer4.2.conv2.weight': backbone,
        'decode_head.query_embed.weight': no_decay,
        'decode_head.level_embed.weight': no_decay,
        # a bare nn.Parameter in the released pixel decoder: decays
        'decode_head.pixel_decoder.level_encoding.weight': head,
        'decode_head.text_mapper.prompt_ctx.weight': no_decay,
        'decode_head.text_mapper.text_encoder.token_embedding.weight':
        no_decay,
        'decode_head.transformer_decoder.post_norm.weight': no_decay,
        'decode_head.cls_embed.weight': head,
        'decode_head.task_encoder.mlp.0.weight': head,
    }
    assert {name: groups[name] for name in expected} == expected
