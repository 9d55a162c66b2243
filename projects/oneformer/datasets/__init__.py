from .panoptic import OneFormerPanopticDataset
from .transforms import *  # noqa: F401,F403

__all__ = ['OneFormerPanopticDataset']
