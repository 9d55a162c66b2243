# OneFormer DiNAT-L (released D2DiNAT: embed 192, mlp ratio 2, depths 3-4-18-5,
# kernel 11, drop path 0.3, no layer scale, a LayerNorm on every output stage),
# with the dilations of the ADE20K 640/896 and COCO configs. The neighbourhood
# attention with relative positional bias runs on PyTorch (NATTEN >= 0.20 has no
# bias); set backbone.with_cp=True to save memory in training.
_base_ = './oneformer_r50.py'

pretrained = ('https://shi-labs.com/projects/dinat/checkpoints/imagenet1k/'
              'dinat_large_in22k_in1k_384_11x11.pth')
model = dict(
    backbone=dict(
        _delete_=True,
        type='DiNAT',
        embed_dim=192,
        mlp_ratio=2.,
        depths=[3, 4, 18, 5],
        num_heads=[6, 12, 24, 48],
        kernel_size=11,
        dilations=[[1, 20, 1], [1, 5, 1, 10],
                   [1, 2, 1, 3, 1, 4, 1, 5, 1, 2, 1, 3, 1, 4, 1, 5, 1, 5],
                   [1, 2, 1, 2, 1]],
        drop_path_rate=0.3,
        out_indices=(0, 1, 2, 3),
        init_cfg=dict(type='Pretrained', checkpoint=pretrained)),
    panoptic_head=dict(in_channels=[192, 384, 768, 1536]))
