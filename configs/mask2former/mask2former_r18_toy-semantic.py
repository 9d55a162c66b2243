# Mask2Former-Semantic (paper Tables 1-3, "individual training") on the bundled toy
# dataset: mask2former_r18_toy-joint.py trained on semantic targets only (derived from
# the panoptic annotation by OneFormerTaskSampling's fixed-task mode). The test run
# still gives all three outputs; the paper scores it on its own task only.
_base_ = ['./mask2former_r18_toy-joint.py']

train_pipeline = [
    dict(t, task='semantic') if t['type'] == 'OneFormerTaskSampling' else t
    for t in _base_.train_pipeline
]
train_dataloader = dict(dataset=dict(pipeline=train_pipeline))
