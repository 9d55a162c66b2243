"""Query-text contrastive loss (paper Sec. 3.3, Eq. 1)."""
import math

import torch
import torch.nn.functional as F
from mmengine.dist import all_gather, get_dist_info
from torch import Tensor, nn

from mmdet.registry import MODELS


def _gather(x: Tensor, with_grad: bool) -> Tensor:
    """Concatenate ``x`` [b, D] of every rank in rank order -> [W*b, D]."""
    rank, world_size = get_dist_info()
    if world_size == 1:
        return x
    if with_grad:
        # Autograd-aware, as the release's diffdist all_gather: each rank's
        # gradient w.r.t. the gathered rows is sent back to the rank that owns
        # them and summed there.
        from torch.distributed.nn.functional import all_gather as all_gather_grad
        return torch.cat(all_gather_grad(x), dim=0)
    parts = all_gather(x.detach())
    parts[rank] = x  # other ranks' rows as constants
    return torch.cat(parts, dim=0)


@MODELS.register_module()
class QueryTextContrastiveLoss(nn.Module):
    """L = CE(Q -> Q_text) + CE(Q_text -> Q) over the global batch, times ``loss_weight``.

    Each image's N object queries and its N text queries are flattened to one
    [N * C] vector each and L2-normalised; image i's queries must pick image i's
    texts among the texts of every image on every rank, and vice versa. The
    temperature is a learnable log-scale ``logit_scale`` (init ln(1/0.07), its exp
    clamped at 100), saved in checkpoints.

    Args:
        loss_weight (float): lambda of Eq. 2. Defaults to 0.5.
        init_temperature (float): initial tau. Defaults to 0.07.
        max_logit_scale (float): clamp of exp(logit_scale). Defaults to 100.
        gather_with_grad (bool): True (default) is the released behaviour: the
            gather is autograd-aware (diffdist 0.1's all_gather, whose backward
            sums on each rank the gradients every rank sends to its rows), so the
            DDP-averaged gradient equals the single-process gradient of the
            global batch. False enters other ranks' features as constants: a
            rank's inputs then get only the gradient of its own loss rows, and
            the result depends on the number of GPUs.
    """

    def __init__(self,
                 loss_weight: float = 0.5,
                 init_temperature: float = 0.07,
                 max_logit_scale: float = 100.0,
                 gather_with_grad: bool = True) -> None:
        super().__init__()
        self.loss_weight = loss_weight
        self.max_logit_scale = max_logit_scale
        self.gather_with_grad = gather_with_grad
        self.logit_scale = nn.Parameter(
            torch.tensor(math.log(1 / init_temperature)))

    def forward(self, queries: Tensor, texts: Tensor) -> Tensor:
        """
        Args:
            queries (Tensor): object queries before the masked decoder [b, N, C].
            texts (Tensor): text queries of the same images [b, N, C].

        Returns:
            Tensor: the weighted loss, averaged over this rank's b images.
        """
        if queries.shape != texts.shape:
            raise ValueError(f'object queries {tuple(queries.shape)} and text queries '
                             f'{tuple(texts.shape)} must have the same shape')
        rank, _ = get_dist_info()
        img = F.normalize(queries.float().flatten(1), dim=-1)
        txt = F.normalize(texts.float().flatten(1), dim=-1)
        labels = torch.arange(len(img), device=img.device) + rank * len(img)
        scale = self.logit_scale.exp().clamp(max=self.max_logit_scale)
        logits_img = img @ _gather(txt, self.gather_with_grad).t()
        logits_txt = txt @ _gather(img, self.gather_with_grad).t()
        loss = (F.cross_entropy(logits_img * scale, labels) +
                F.cross_entropy(logits_txt * scale, labels))
        return self.loss_weight * loss
