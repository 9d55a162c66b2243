# Mask2Former-Joint R50 (paper Table 7): mmdet's Mask2Former trained once on all three
# tasks with OneFormer's task-conditioned sampling (the dataset configs' train
# pipelines: task per image with the released thresholds, its targets derived from
# the panoptic annotation) but without task token, query initialiser, text mapper and
# contrastive loss. The network is OneFormer's R50 (../../_base_/models/oneformer_r50
# .py) without those parts, i.e. Mask2Former R50 (6-layer deformable pixel decoder,
# 9 masked-decoder layers), with Mask2Former's R50 query count.
# mmdet's Mask2FormerHead needs no change: OneFormerTaskSampling drops gt_seg_map, so
# its preprocess_gt takes the packed per-task masks as they are.
# Test: one run scores PQ, mask AP and mIoU of the same predictions
# (SemanticMaskFormerFusionHead). Dataset configs set the class counts and schedule.
_base_ = [
    '../../_base_/default_runtime.py',
    '../../_base_/models/oneformer_r50.py',
]

num_queries = 100  # Mask2Former R50 (ADE20K, Cityscapes, COCO)
model = dict(
    _delete_=True,
    type='Mask2Former',
    data_preprocessor=_base_.model.data_preprocessor,
    backbone=_base_.model.backbone,
    # OneFormer's head config less its task token, query initialiser, text
    # mapper and contrastive loss
    panoptic_head=dict(
        {k: v for k, v in _base_.model.panoptic_head.items()
         if k not in ('query_initialiser', 'task_encoder', 'text_mapper',
                      'loss_contrastive')},
        type='Mask2FormerHead',
        num_queries=num_queries),
    panoptic_fusion_head=dict(
        type='SemanticMaskFormerFusionHead',
        num_things_classes=_base_.num_things_classes,
        num_stuff_classes=_base_.num_stuff_classes,
        loss_panoptic=None,
        init_cfg=None),
    train_cfg=_base_.model.train_cfg,
    # Mask2Former's released inference settings, all three outputs on
    test_cfg=dict(
        panoptic_on=True,
        instance_on=True,
        semantic_on=True,
        max_per_image=num_queries,
        object_mask_thr=0.8,
        iou_thr=0.8,
        filter_low_score=True),
    init_cfg=None)

# Mask2Former's released optimisation (mmdet's mask2former configs): AdamW 1e-4,
# weight decay 0.05, backbone lr x0.1, no decay on norms and embeddings, gradient
# clipping 0.01, poly decay; batch 16 (8 GPUs x 2). max_iters per dataset.
max_iters = 160000
embed_multi = dict(lr_mult=1.0, decay_mult=0.0)
optim_wrapper = dict(
    type='OptimWrapper',
    optimizer=dict(type='AdamW', lr=1e-4, weight_decay=0.05, eps=1e-8,
                   betas=(0.9, 0.999)),
    paramwise_cfg=dict(
        custom_keys={
            'backbone': dict(lr_mult=0.1, decay_mult=1.0),
            'query_embed': embed_multi,
            'query_feat': embed_multi,
            'level_embed': embed_multi,
        },
        norm_decay_mult=0.0),
    clip_grad=dict(max_norm=0.01, norm_type=2))
param_scheduler = dict(type='PolyLR', eta_min=0, power=0.9, begin=0,
                       end=max_iters, by_epoch=False)
train_cfg = dict(type='IterBasedTrainLoop', max_iters=max_iters,
                 val_interval=5000)
val_cfg = dict(type='ValLoop')
test_cfg = dict(type='TestLoop')
default_hooks = dict(
    checkpoint=dict(type='CheckpointHook', by_epoch=False, interval=5000,
                    max_keep_ckpts=3, save_last=True))
log_processor = dict(type='LogProcessor', window_size=50, by_epoch=False)
auto_scale_lr = dict(enable=False, base_batch_size=16)
