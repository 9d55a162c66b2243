"""The paper's configs against the released recipes (SHI-Labs/OneFormer yaml files
resolved through their bases; see the comments in configs/oneformer/)."""
import os.path as osp

import pytest
from mmengine.config import Config

from tests.utils import REPO

SWIN_L = dict(type='InfMaskSwinTransformer', embed_dims=192,
              depths=[2, 2, 18, 2], num_heads=[6, 12, 24, 48], window_size=12,
              drop_path_rate=0.3, pretrain_img_size=384)
SWIN_T = dict(type='InfMaskSwinTransformer', embed_dims=96,
              depths=[2, 2, 6, 2], num_heads=[3, 6, 12, 24], window_size=7,
              drop_path_rate=0.3)
CONVNEXT_L = dict(type='mmpretrain.ConvNeXt', arch='large', drop_path_rate=0.4,
                  layer_scale_init_value=1.0, gap_before_final_norm=False)
CONVNEXT_XL = dict(CONVNEXT_L, arch='xlarge')
DINAT_A = [[1, 20, 1], [1, 5, 1, 10],
           [1, 2, 1, 3, 1, 4, 1, 5, 1, 2, 1, 3, 1, 4, 1, 5, 1, 5], [1, 2, 1, 2, 1]]
DINAT_L = dict(type='DiNAT', embed_dim=192, mlp_ratio=2., depths=[3, 4, 18, 5],
               num_heads=[6, 12, 24, 48], kernel_size=11, drop_path_rate=0.3,
               dilations=DINAT_A)
R50_FROZEN = dict(type='ResNet', depth=50, norm_cfg=dict(type='BN', requires_grad=False),
                  norm_eval=True, style='pytorch')
R50_SYNC = dict(R50_FROZEN, norm_cfg=dict(type='SyncBN', requires_grad=True),
                norm_eval=False)
ADE, CS, COCO = (100, 50, 0.5), (8, 11, 0.8), (80, 53, 0.8)
POLY160, POLY90 = ('PolyLR', 160000, None), ('PolyLR', 90000, None)
STEP50 = ('MultiStepLR', 368750, [327778, 355092])
STEP100_SWIN = ('MultiStepLR', 737500, [655556, 735184])
STEP100_DINAT = ('MultiStepLR', 737500, [655556, 710184])
# config: backbone, (things, stuff, object_mask_thr), queries, train crop (h, w),
# test (short side, max side), schedule, AMP, backbone pretrained file
RECIPES = {
    'oneformer_r50_8xb2-160k_ade20k-512x512': (
        R50_FROZEN, ADE, 150, 512, (512, 2048), POLY160, True, 'resnet50'),
    'oneformer_swin-t_8xb2-160k_ade20k-512x512': (
        SWIN_T, ADE, 150, 512, (512, 2048), POLY160, True, 'swin_tiny_patch4_window7_224'),
    'oneformer_swin-l_8xb2-160k_ade20k-640x640': (
        SWIN_L, ADE, 250, 640, (640, 2560), POLY160, True, 'window12_384_22kto1k'),
    'oneformer_swin-l_8xb2-160k_ade20k-896x896': (
        SWIN_L, ADE, 250, 896, (896, 3584), POLY160, True, 'window12_384_22k.'),
    'oneformer_swin-l_8xb2-160k_ade20k-1280x1280': (
        SWIN_L, ADE, 250, 1280, (1280, 5120), POLY160, True, 'window12_384_22kto1k'),
    'oneformer_convnext-l_8xb2-160k_ade20k-640x640': (
        CONVNEXT_L, ADE, 250, 640, (640, 2560), POLY160, True, 'convnext-large_in21k'),
    'oneformer_convnext-xl_8xb2-160k_ade20k-640x640': (
        CONVNEXT_XL, ADE, 250, 640, (640, 2560), POLY160, True, 'convnext-xlarge_in21k'),
    'oneformer_dinat-l_8xb2-160k_ade20k-640x640': (
        DINAT_L, ADE, 250, 640, (640, 2560), POLY160, False, 'in22k_in1k_384_11x11'),
    'oneformer_dinat-l_8xb2-160k_ade20k-896x896': (
        DINAT_L, ADE, 250, 896, (896, 3584), POLY160, False, 'in22k_in1k_384_11x11'),
    'oneformer_dinat-l_8xb2-160k_ade20k-1280x1280': (
        dict(DINAT_L, dilations=[
            [1, 28, 1], [1, 7, 1, 14],
            [1, 3, 1, 5, 1, 5, 1, 7, 1, 3, 1, 5, 1, 5, 1, 7, 1, 7], [1, 3, 1, 3, 1]]),
        ADE, 250, 1280, (1280, 5120), POLY160, False, 'in22k_in1k_384_11x11'),
    'oneformer_r50_8xb2-90k_cityscapes-512x1024': (
        R50_SYNC, CS, 150, (512, 1024), (1024, 2048), POLY90, True, 'resnet50'),
    'oneformer_swin-l_8xb2-90k_cityscapes-512x1024': (
        SWIN_L, CS, 250, (512, 1024), (1024, 2048), POLY90, True, 'window12_384_22kto1k'),
    'oneformer_convnext-l_8xb2-90k_cityscapes-512x1024': (
        CONVNEXT_L, CS, 250, (512, 1024), (1024, 2048), POLY90, True, 'convnext-large_in21k'),
    'oneformer_convnext-xl_8xb2-90k_cityscapes-512x1024': (
        CONVNEXT_XL, CS, 250, (512, 1024), (1024, 2048), POLY90, True, 'convnext-xlarge_in21k'),
    'oneformer_dinat-l_8xb2-90k_cityscapes-512x1024': (
        dict(DINAT_L, kernel_size=7, dilations=[
            [1, 18, 1], [1, 5, 1, 9],
            [1, 2, 1, 3, 1, 4, 1, 2, 1, 3, 1, 4, 1, 2, 1, 3, 1, 4], [1, 2, 1, 2, 1]]),
        CS, 250, (512, 1024), (1024, 2048), POLY90, False, 'dinat_large_in22k_224'),
    'oneformer_r50_8xb2-lsj-50e_coco-panoptic': (
        R50_FROZEN, COCO, 150, 1024, (800, 1333), STEP50, True, 'resnet50'),
    'oneformer_swin-t_8xb2-lsj-50e_coco-panoptic': (
        SWIN_T, COCO, 150, 1024, (800, 1333), STEP50, True, 'swin_tiny_patch4_window7_224'),
    'oneformer_swin-l_8xb2-lsj-100e_coco-panoptic': (
        SWIN_L, COCO, 150, 1024, (800, 1333), STEP100_SWIN, False, 'window12_384_22kto1k'),
    'oneformer_dinat-l_8xb2-lsj-100e_coco-panoptic': (
        DINAT_L, COCO, 150, 1024, (800, 1333), STEP100_DINAT, False, 'in22k_in1k_384_11x11'),
}


def _transform(pipeline, *types):
    found = [t for t in pipeline if t['type'] in types]
    assert len(found) == 1, (types, pipeline)
    return found[0]


@pytest.mark.parametrize('name', sorted(RECIPES))
def test_recipe(name):
    (backbone, (things, stuff, thr), queries, crop, test_size, schedule, amp,
     pretrained) = RECIPES[name]
    cfg = Config.fromfile(osp.join(REPO, 'configs/oneformer', name + '.py'))
    model = cfg.model
    for key, value in backbone.items():
        assert model.backbone[key] == value, (key, model.backbone[key])
    assert pretrained in (model.backbone.init_cfg.checkpoint
                          if 'init_cfg' in model.backbone else '')
    head = model.panoptic_head
    assert (head.num_things_classes, head.num_stuff_classes) == (things, stuff)
    assert (model.panoptic_fusion_head.num_things_classes,
            model.panoptic_fusion_head.num_stuff_classes) == (things, stuff)
    # the instance top-k is the detector's default: the number of queries
    assert head.num_queries == queries and 'max_per_image' not in model.test_cfg
    assert model.test_cfg.object_mask_thr == thr
    assert model.test_cfg.iou_thr == 0.8
    assert model.test_cfg.tasks == ['panoptic', 'instance', 'semantic']
    assert cfg.train_dataloader.dataset.num_texts == queries - 16
    # the released losses, matcher and decoder sizes
    assert head.loss_cls.class_weight == [1.0] * (things + stuff) + [0.1]
    assert (head.loss_cls.loss_weight, head.loss_mask.loss_weight,
            head.loss_dice.loss_weight) == (2.0, 5.0, 5.0)
    assert head.loss_contrastive.loss_weight == 0.5
    assert head.loss_contrastive.init_temperature == 0.07
    assert [c['weight'] for c in model.train_cfg.assigner.match_costs] == [2., 5., 5.]
    assert (model.train_cfg.num_points, model.train_cfg.oversample_ratio,
            model.train_cfg.importance_sample_ratio) == (12544, 3.0, 0.75)
    assert head.transformer_decoder.num_layers == 9
    assert head.query_initialiser.decoder.num_layers == 2
    assert head.pixel_decoder.encoder.num_layers == 6
    assert head.text_mapper.num_context == 16
    assert head.text_mapper.get('text_encoder', {}).get('layers', 6) == 6
    # the released solver
    optim = cfg.optim_wrapper
    assert optim.type == ('AmpOptimWrapper' if amp else 'OptimWrapper')
    assert optim.optimizer.type == 'AdamW'
    assert (optim.optimizer.lr, optim.optimizer.weight_decay) == (1e-4, 0.05)
    assert optim.constructor == 'OneFormerOptimWrapperConstructor'
    assert optim.paramwise_cfg.backbone_lr_mult == 0.1
    assert ('decay_norm_types' in optim.paramwise_cfg) == ('ConvNeXt' in
                                                           backbone['type'])
    assert optim.clip_grad is None
    assert cfg.train_dataloader.batch_size == 2  # x 8 GPUs = 16
    scheduler, iters, milestones = schedule
    assert cfg.param_scheduler.type == scheduler
    assert cfg.train_cfg.max_iters == cfg.param_scheduler.end == iters
    if milestones:
        assert cfg.param_scheduler.milestones == milestones
    else:
        assert cfg.param_scheduler.power == 0.9
    # the released data
    if isinstance(crop, int):
        crop = (crop, crop)
    pipeline = cfg.train_dataloader.dataset.pipeline
    assert _transform(pipeline, 'RandomCrop')['crop_size'] == crop[::-1]
    test = cfg.test_dataloader.dataset.pipeline
    if 'coco' in name:
        assert _transform(pipeline, 'RandomResize')['ratio_range'] == (0.1, 2.0)
    else:
        resize = _transform(pipeline, 'RandomChoiceResize')
        assert resize['scales'] == [int(x * 0.1 * crop[1] if 'cityscapes' in name
                                        else x * 0.1 * crop[0])
                                    for x in range(5, 21)]
        assert resize['max_size'] == 4 * (crop[1] if 'cityscapes' in name
                                          else crop[0])
    scale = _transform(test, 'ResizeShortestEdge')
    assert (scale['scale'], scale['max_size']) == test_size
