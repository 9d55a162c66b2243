# OneFormer's released solver (SHI-Labs/OneFormer configs/*/oneformer_R50_bs16_*.yaml,
# train_net.py build_optimizer), 160k iterations with poly decay (ADE20K).
# Batch 16 = 8 GPUs x 2 images (train_dataloader.batch_size). Includes the
# project's runtime (../default_runtime.py).
_base_ = '../default_runtime.py'

max_iters = 160000
optim_wrapper = dict(
    # SOLVER.AMP.ENABLED (fp16 with dynamic loss scaling); DiNAT-L and COCO Swin-L
    # turn it off (type='OptimWrapper'). Without CUDA the tools train in fp32.
    type='AmpOptimWrapper',
    optimizer=dict(
        type='AdamW', lr=1e-4, weight_decay=0.05, eps=1e-8, betas=(0.9, 0.999)),
    # Released rules: lr x0.1 inside the backbone; no weight decay on norm layers,
    # nn.Embedding tables and Swin's relative position tables.
    constructor='OneFormerOptimWrapperConstructor',
    paramwise_cfg=dict(backbone_lr_mult=0.1),
    # CLIP_GRADIENTS (full model, 0.01) is configured in the release, but its
    # optimizer exhausts the parameter iterator in a NaN/inf clean-up loop before
    # clip_grad_norm_ runs, so the released models were trained without clipping.
    # We train as released: no clipping (and no NaN clean-up: AMP skips steps with
    # non-finite gradients).
    clip_grad=None)
# WarmupPolyLR(power 0.9, no warm-up: WARMUP_FACTOR 1.0), per iteration
param_scheduler = dict(
    type='PolyLR', eta_min=0, power=0.9, begin=0, end=max_iters, by_epoch=False)
train_cfg = dict(type='IterBasedTrainLoop', max_iters=max_iters,
                 val_interval=5000)  # TEST.EVAL_PERIOD
val_cfg = dict(type='ValLoop')
test_cfg = dict(type='TestLoop')
default_hooks = dict(
    # SOLVER.CHECKPOINT_PERIOD
    checkpoint=dict(type='CheckpointHook', by_epoch=False, interval=5000,
                    max_keep_ckpts=3, save_last=True),
    logger=dict(type='LoggerHook', interval=50))
log_processor = dict(type='LogProcessor', window_size=50, by_epoch=False)
# --auto-scale-lr: the released lr is for 16 images per iteration
auto_scale_lr = dict(enable=False, base_batch_size=16)
