"""Stage freezing for backbones whose frozen parts must stay frozen after train()
(DiNAT; mmdet's and mmpretrain's backbones have their own)."""
from typing import Iterable

from mmengine.model import BaseModule
from torch import nn


class FrozenStagesBackbone(BaseModule):
    """A backbone whose ``frozen_modules()`` stay in eval mode without
    gradients, also after ``train()``."""

    def frozen_modules(self) -> Iterable[nn.Module]:
        return ()

    def _freeze_stages(self):
        for module in self.frozen_modules():
            module.eval()
            for param in module.parameters():
                param.requires_grad = False

    def train(self, mode: bool = True):
        super().train(mode)
        self._freeze_stages()
        return self
