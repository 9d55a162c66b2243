"""OneFormer for mmdetection 3.x / mmsegmentation 1.x.

Importing this package registers every module of the plugin in the mmdet (and mmseg)
registries, so configs only need ``custom_imports = dict(imports=['projects.oneformer'])``.
It also allow-lists mmengine's checkpoint contents for torch >= 2.6 (utils/checkpoint.py)
and survives a transformers release too new for mmpretrain and a numpy too new for
cityscapesscripts (utils/compat.py).
"""
from .utils.checkpoint import allow_mmengine_checkpoint_globals
from .utils.compat import disable_broken_mmpretrain, give_cityscapesscripts_in1d

# Before anything imports mmdet.models (see utils/compat.py).
disable_broken_mmpretrain()
give_cityscapesscripts_in1d()
allow_mmengine_checkpoint_globals()
from .datasets import *  # noqa: E402,F401,F403
from .engine import *  # noqa: E402,F401,F403
from .models import *  # noqa: E402,F401,F403
from .visualization import *  # noqa: E402,F401,F403
from .mmseg import *  # noqa: E402,F401,F403
