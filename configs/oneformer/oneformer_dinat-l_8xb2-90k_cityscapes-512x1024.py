# OneFormer DiNAT-L on Cityscapes panoptic (fine): 512x1024 crops, 90k iterations, batch 16, 250 queries
# (released configs/cityscapes/dinat/oneformer_dinat_large_bs16_90k.yaml).
# One test run scores PQ, mask AP and mIoU.
_base_ = [
    '../_base_/schedules/oneformer_90k.py', '../_base_/datasets/cityscapes_panoptic.py',
    '../_base_/models/oneformer_dinat-l.py'
]

model = dict(
    # Cityscapes DiNAT-L: kernel 7, its own dilations, ImageNet-22k 224 weights
    backbone=dict(kernel_size=7, dilations=[
        [1, 18, 1], [1, 5, 1, 9], [1, 2, 1, 3, 1, 4, 1, 2, 1, 3, 1, 4, 1, 2, 1, 3, 1, 4],
        [1, 2, 1, 2, 1]], init_cfg=dict(checkpoint='https://shi-labs.com/projects/dinat/'
                                            'checkpoints/imagenet22k/dinat_large_in22k_224.pth')),
    panoptic_head=dict(num_things_classes=8, num_stuff_classes=11, num_queries=250,
                       loss_cls=dict(class_weight=[1.0] * 19 + [0.1])),
    panoptic_fusion_head=dict(num_things_classes=8, num_stuff_classes=11),
    test_cfg=dict(object_mask_thr=0.8))
train_dataloader = dict(dataset=dict(num_texts=234))  # 250 queries - 16 contexts
# SOLVER.AMP.ENABLED is False in the released config
optim_wrapper = dict(type='OptimWrapper')
