"""What every project here shares with the pinned OpenMMLab stack: no model.

Importing it (``projects.oneformer`` and ``projects.panoptic_segformer`` do
first)
* allow-lists mmengine's checkpoint contents for torch >= 2.6 (checkpoint.py);
* survives a transformers release too new for mmpretrain and a numpy too new
  for cityscapesscripts (compat.py);
* registers the run-time pieces the configs' shared runtime names: each rank's
  random state in checkpoints (``RandomStateHook``), atomic checkpoint writes
  (``backend='local_atomic'``) and the training progress bar
  (``TrainProgressBarHook``);
* registers mmdet's ``CocoPanopticMetric`` without its write into the
  predictions it scores (panoptic_metric.py).
``launch`` and ``resume`` serve the tools (``tools/train.py``, ``tools/test.py``).
The key-renaming machinery of the checkpoint converters is ``converters``.
"""
from .checkpoint import allow_mmengine_checkpoint_globals
from .compat import disable_broken_mmpretrain, give_cityscapesscripts_in1d

# Before anything imports mmdet.models (see compat.py).
disable_broken_mmpretrain()
give_cityscapesscripts_in1d()
allow_mmengine_checkpoint_globals()
from .atomic_backend import AtomicLocalBackend  # noqa: E402
from .panoptic_metric import CocoPanopticMetric  # noqa: E402
from .launch import build_runner, load_config, setup_cpu_distributed  # noqa: E402
from .progress_bar import (TrainProgressBarHook,  # noqa: E402
                           add_progress_bar_for_terminal)
from .random_state_hook import (RandomStateHook, get_random_state,  # noqa: E402
                                set_random_state)

__all__ = [
    'AtomicLocalBackend', 'CocoPanopticMetric', 'RandomStateHook', 'TrainProgressBarHook',
    'add_progress_bar_for_terminal',
    'allow_mmengine_checkpoint_globals', 'build_runner', 'get_random_state',
    'load_config', 'set_random_state', 'setup_cpu_distributed'
]
