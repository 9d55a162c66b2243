# OneFormer R50 on ADE20K semantic segmentation (150 classes), 512x512 crops,
# 160k iterations at batch 16 (8 x 2), evaluated with the semantic task
# (mIoU). mmseg's ADE20K pipeline: shortest edge 0.5-2.0 x 512 (the release
# draws it from 16 steps of that range), crop, flip, colour jitter.
_base_ = [
    './_base_/default_runtime.py',
    'mmseg::_base_/datasets/ade20k.py',
    './_base_/oneformer_schedule_160k.py',
    './_base_/oneformer_r50.py',
]

train_dataloader = dict(batch_size=2)
