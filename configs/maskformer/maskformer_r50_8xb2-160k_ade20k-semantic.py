# MaskFormer R50 on ADE20K, trained on semantic targets (paper Table 1: MaskFormer, mIoU): mmdet's MaskFormer with MaskFormer's R50 head
# (_base_/maskformer-head_r50.py) on the recipe of
# ../mask2former/mask2former_r50_8xb2-160k_ade20k-semantic.py (data, task targets, optimiser,
# schedule). One test run gives PQ, mask AP and mIoU (SemanticMaskFormerFusionHead).
_base_ = [
    '../mask2former/mask2former_r50_8xb2-160k_ade20k-semantic.py',
    './_base_/maskformer-head_r50.py',
]

model = dict(
    type='MaskFormer',
    panoptic_head=dict(
        _delete_=True,
        **_base_.maskformer_head,
        num_things_classes=_base_.num_things_classes,
        num_stuff_classes=_base_.num_stuff_classes,
        loss_cls=dict(type='CrossEntropyLoss', use_sigmoid=False, loss_weight=1.0,
                      reduction='mean',
                      class_weight=[1.0] * _base_.num_classes + [0.1])),
    train_cfg=dict(_delete_=True, **_base_.maskformer_train_cfg),
    # MaskFormer's panoptic inference keeps low-score pixels
    test_cfg=dict(filter_low_score=False))
