# Mask2Former-Joint (paper Table 7) on the bundled toy dataset: mmdet's Mask2Former
# trained once on all three tasks with OneFormer's task-conditioned sampling (task
# per image with the released thresholds, that task's targets derived from the
# panoptic annotation) but without the task token, the query initialiser, the text
# mapper and the contrastive loss. Everything else is configs/oneformer_r18_toy.py:
# ResNet-18 from scratch, 64-d, 20 queries, 3 masked-decoder layers, same pixel
# decoder, losses, matcher, pipeline, optimizer and schedule, so the comparison
# with OneFormer is fair.
# mmdet's Mask2FormerHead needs no change: OneFormerTaskSampling drops gt_seg_map,
# so the head's preprocess_gt takes the packed per-task masks as they are.
# Test: one run gives panoptic, instance and semantic outputs of the same
# predictions (SemanticMaskFormerFusionHead) -> PQ, mask AP and mIoU.
_base_ = ['../oneformer_r18_toy.py']

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
        type='Mask2FormerHead'),
    panoptic_fusion_head=dict(
        type='SemanticMaskFormerFusionHead',
        num_things_classes=_base_.num_things_classes,
        num_stuff_classes=_base_.num_stuff_classes,
        loss_panoptic=None,
        init_cfg=None),
    train_cfg=_base_.model.train_cfg,
    test_cfg=dict(
        panoptic_on=True,
        instance_on=True,
        semantic_on=True,
        max_per_image=_base_.num_queries,
        object_mask_thr=0.8,
        iou_thr=0.8,
        filter_low_score=True),
    init_cfg=None)
