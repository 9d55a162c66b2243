# Released R50 1x schedule: 12 epochs, lr step at 8. Released COCO val PQ 48.0.
_base_ = './panoptic-segformer_r50_8xb1-24e_coco-panoptic.py'

max_epochs = 12
train_cfg = dict(max_epochs=max_epochs)
param_scheduler = _base_.param_scheduler
param_scheduler[0].update(end=max_epochs, milestones=[8])
