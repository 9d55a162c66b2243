from .ade20k import OneFormerADE20KPanopticDataset
from .cityscapes import CityscapesPanopticDataset
from .panoptic import OneFormerPanopticDataset
from .transforms import *  # noqa: F401,F403

__all__ = [
    'OneFormerPanopticDataset', 'OneFormerADE20KPanopticDataset',
    'CityscapesPanopticDataset'
]
