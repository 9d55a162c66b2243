# Released OneFormer optimisation: AdamW lr 1e-4, weight
# decay 0.05, backbone lr x0.1, no decay on norms and embeddings, poly 0.9 to
# 0 over 160k iterations at batch 16 (8 GPUs x 2).
_base_ = 'mmseg::_base_/schedules/schedule_160k.py'

# The released trainer never clips (its clipping iterator is exhausted, facts
# section 4), so neither do we; train with --amp as released to get its
# skipping of non-finite steps.
no_decay = dict(lr_mult=1.0, decay_mult=0.0)
optim_wrapper = dict(
    _delete_=True,
    type='OptimWrapper',
    optimizer=dict(
        type='AdamW',
        lr=1e-4,
        weight_decay=0.05,
        eps=1e-8,
        betas=(0.9, 0.999)),
    clip_grad=None,
    paramwise_cfg=dict(
        custom_keys={
            'backbone': dict(lr_mult=0.1, decay_mult=1.0),
            # nn.Embedding tables (the released WEIGHT_DECAY_EMBED = 0)
            'query_embed': no_decay,
            'level_embed': no_decay,
            'prompt_ctx': no_decay,
            'token_embedding': no_decay,
        },
        norm_decay_mult=0.0))
param_scheduler = [
    dict(
        type='PolyLR',
        eta_min=0,
        power=0.9,
        begin=0,
        end=160000,
        by_epoch=False)
]
# every rank's random state in each checkpoint, checkpoints written atomically
# (../../_base_/default_runtime.py)
default_hooks = dict(
    checkpoint=dict(backend_args=dict(backend='local_atomic')),
    random_state=dict(type='RandomStateHook'))
