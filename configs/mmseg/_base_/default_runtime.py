# mmseg's default runtime with the project's randomness (../../_base_/
# default_runtime.py): each rank seeds its generators with seed + rank. The
# checkpoint and random-state hooks are in ./oneformer_schedule_160k.py, where mmseg
# keeps its default_hooks.
_base_ = 'mmseg::_base_/default_runtime.py'

randomness = dict(seed=None, diff_rank_seed=True)
