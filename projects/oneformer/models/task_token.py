"""Task token (paper Sec. 3.1): "the task is {task}" -> CLIP BPE ids -> MLP."""
from typing import Sequence, Union

import open_clip
from mmengine.model import BaseModule
from torch import Tensor, nn

from mmdet.registry import MODELS
from ..tasks import TASKS, check_tasks


@MODELS.register_module()
class TaskTokenEncoder(BaseModule):
    """Maps task names to task tokens Q_task.

    The released model feeds the raw token ids, cast to float, to a 2-layer
    MLP; there is no embedding table.

    Args:
        embed_dims (int): Output width C. Defaults to 256.
        context_length (int): Tokenizer length L (zero padded). Defaults to 77.
        template (str): Task sentence. Defaults to 'the task is {}'.
        init_cfg (dict, optional): Initialisation config.
    """

    def __init__(self,
                 embed_dims: int = 256,
                 context_length: int = 77,
                 template: str = 'the task is {}',
                 init_cfg=None) -> None:
        super().__init__(init_cfg=init_cfg)
        self.mlp = nn.Sequential(
            nn.Linear(context_length, embed_dims), nn.ReLU(inplace=True),
            nn.Linear(embed_dims, embed_dims))
        # Non-persistent: the ids are a function of the tokenizer, not weights.
        self.register_buffer(
            'task_ids',
            open_clip.tokenize([template.format(t) for t in TASKS],
                               context_length=context_length),
            persistent=False)

    def tokenize(self, tasks: Union[Sequence[str], Tensor]) -> Tensor:
        """Token ids of the task sentences, LongTensor [B, L].

        ``tasks``: task names (B,), or their indices in ``TASKS`` as a
        LongTensor [B] (what an exported graph takes as its task input).
        """
        if isinstance(tasks, Tensor):
            return self.task_ids[tasks]
        check_tasks(tasks)
        return self.task_ids[[TASKS.index(t) for t in tasks]]

    def forward(self, tasks: Union[Sequence[str], Tensor]) -> Tensor:
        """Task names (B,) or indices [B] -> task tokens [B, C]."""
        ids = self.tokenize(tasks)
        return self.mlp(ids.to(self.mlp[0].weight.dtype))
