"""mmdet's Swin Transformer with the shifted-window mask at -inf.

mmdet's ``ShiftWindowMSA`` adds -100 to the logits of the token pairs of a
shifted window that come from different image regions. After the softmax
their weights are about exp(-100) of the row's largest, subnormal floats
(below 1.2e-38), and an x86 CPU takes a slow path for every multiply that
reads one: the attention-times-values product of each shifted block runs
2-3x slower. With zero biases (a fresh initialisation, Hugging Face's random
weights) a padding token whose unmasked keys are all padding (q = k = v = 0)
even gets a subnormal output, and the output projection that reads those rows
runs tens of times slower. At -inf the masked weights are 0.

Every other weight is bit for bit the same: the softmax's largest logit is an
unmasked one and its sum is >= 1, to which exp(-100) adds nothing in fp32,
unless a masked logit exceeds the row's largest unmasked one by about 80.
So is every output above about 1e-30 in magnitude, a subnormal addend being
below half its last bit; smaller outputs (the padding rows, cropped after the
attention) become 0. The same parameters, buffers and checkpoints as mmdet's
``SwinTransformer``; on a GPU subnormals cost nothing and nothing changes.
"""
from torch import Tensor

from mmdet.models.backbones import SwinTransformer
from mmdet.models.backbones.swin import WindowMSA
from mmdet.registry import MODELS


class InfMaskWindowMSA(WindowMSA):
    """mmdet's ``WindowMSA`` with the shifted-window mask's -100 as -inf."""

    def forward(self, x: Tensor, mask: Tensor = None) -> Tensor:
        """
        Args:
            x (Tensor): Windows [num_windows * B, N, C].
            mask (Tensor, optional): mmdet's shifted-window mask
                [num_windows, N, N], 0 or -100.

        Returns:
            Tensor: [num_windows * B, N, C].
        """
        if mask is not None:
            mask = mask.masked_fill(mask < 0, float('-inf'))
        return super().forward(x, mask)


@MODELS.register_module()
class InfMaskSwinTransformer(SwinTransformer):
    """mmdet's ``SwinTransformer`` whose window attention is
    :class:`InfMaskWindowMSA`.

    Args: those of ``SwinTransformer``.
    """

    def __init__(self, *args, **kwargs) -> None:
        super().__init__(*args, **kwargs)
        # the same module, parameters and initial values: only the forward
        # differs
        for module in self.modules():
            if type(module) is WindowMSA:
                module.__class__ = InfMaskWindowMSA
