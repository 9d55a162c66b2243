from .ade20k import OneFormerADE20KPanopticDataset
from .cityscapes import CityscapesPanopticDataset
from .instance import OneFormerCocoInstanceDataset
from .panoptic import OneFormerPanopticDataset
from .semantic import OneFormerSemSegDataset
from .transforms import *  # noqa: F401,F403

__all__ = [
    'OneFormerPanopticDataset', 'OneFormerADE20KPanopticDataset',
    'CityscapesPanopticDataset', 'OneFormerSemSegDataset', 'OneFormerCocoInstanceDataset'
]
