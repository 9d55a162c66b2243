# Mask2Former-Semantic R50 on Cityscapes (paper Tables 2-3, "individual training"): the
# Mask2Former-Joint recipe (mask2former_r50_8xb2-90k_cityscapes-joint.py) trained on
# semantic targets only, derived from the panoptic annotation by OneFormerTaskSampling's
# fixed-task mode. The test run still gives all three outputs; the paper scores it
# on its own task only.
_base_ = ['./mask2former_r50_8xb2-90k_cityscapes-joint.py']

train_pipeline = [
    dict(t, task='semantic') if t['type'] == 'OneFormerTaskSampling' else t
    for t in _base_.train_pipeline
]
train_dataloader = dict(dataset=dict(pipeline=train_pipeline))
