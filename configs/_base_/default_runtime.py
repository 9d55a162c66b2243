# mmdet's default runtime plus what the project's runs rely on (README "Faults and
# bad input"):
# * every checkpoint holds each rank's random state and resume sets it again
#   (RandomStateHook), so a resumed run equals an uninterrupted one bit for bit;
# * checkpoints are written to a temporary file and renamed (AtomicLocalBackend):
#   a process killed while saving leaves no truncated checkpoint;
# * each rank seeds its generators with seed + rank, so ranks draw different
#   tasks, flips and crops (mmengine seeds every rank alike by default);
# * a model whose thing / stuff counts (or class weights) are not the dataset
#   metainfo's stops before the first iteration (PanopticClassCountCheckHook).
_base_ = 'mmdet::_base_/default_runtime.py'

default_hooks = dict(
    checkpoint=dict(backend_args=dict(backend='local_atomic')),
    random_state=dict(type='RandomStateHook'),
    class_count_check=dict(type='PanopticClassCountCheckHook'))
randomness = dict(seed=None, diff_rank_seed=True)
