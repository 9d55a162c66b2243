"""OneFormer for mmdetection 3.x / mmsegmentation 1.x.

Importing this package registers every module of the plugin in the mmdet (and mmseg)
registries, so configs only need ``custom_imports = dict(imports=['projects.oneformer'])``.
It first imports ``projects.common`` (the stack fixes and the shared run-time
pieces, which must come before anything imports mmdet.models).
"""
import projects.common  # noqa: F401  (first: see its docstring)
from .datasets import *  # noqa: E402,F401,F403
from .engine import *  # noqa: E402,F401,F403
from .models import *  # noqa: E402,F401,F403
from .visualization import *  # noqa: E402,F401,F403
from .mmseg import *  # noqa: E402,F401,F403
