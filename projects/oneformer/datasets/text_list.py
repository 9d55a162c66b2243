"""The text list of an image (paper Sec. 3.2): the input of the text mapper.

N_text slots, each first the task's pad text ("a semantic photo" ...); then, class
by class in the release's class order, the template ("a photo with a {class}")
once per target mask of that class, truncated at N_text. The training transform
(``OneFormerTaskSampling``) and the mmseg head build their lists here.
"""
from typing import List, Optional, Sequence

import numpy as np
import open_clip
import torch

from ..tasks import TASK_SPECS, TASKS
from .class_order import release_sort


class TextList:
    """The released text rule for one class set.

    Args:
        class_names (sequence of str): Class names in label order.
        release_rank (np.ndarray, optional): Release class id of each label
            (``class_order.release_rank``); None when the label order is the
            release's.
        template (str): Text of one mask. Defaults to 'a photo with a {}'.
        context_length (int): CLIP tokenizer length. Defaults to 77.
    """

    def __init__(self,
                 class_names: Sequence[str],
                 release_rank: Optional[np.ndarray] = None,
                 template: str = 'a photo with a {}',
                 context_length: int = 77) -> None:
        self.class_names = tuple(class_names)
        self.release_rank = release_rank
        self.template = template
        # Texts come from a small fixed set: tokenize each once.
        texts = [template.format(n) for n in self.class_names]
        texts += [TASK_SPECS[t].pad_text for t in TASKS]
        tokens = open_clip.tokenize(texts, context_length=context_length)
        self._class_tokens = tokens[:len(self.class_names)]
        self._pad_tokens = dict(zip(TASKS, tokens[len(self.class_names):]))

    def ordered(self, labels: np.ndarray, num_texts: int) -> np.ndarray:
        """The labels [M] of an image's target masks in text order, truncated
        at ``num_texts``."""
        return release_sort(labels, self.release_rank)[:num_texts]

    def texts(self, task: str, labels: np.ndarray,
              num_texts: int) -> List[str]:
        """The ``num_texts`` texts of an image with target ``labels``."""
        ordered = self.ordered(labels, num_texts)
        return ([self.template.format(self.class_names[i]) for i in ordered] +
                [TASK_SPECS[task].pad_text] * (num_texts - len(ordered)))

    def tokens(self, task: str, labels: np.ndarray,
               num_texts: int) -> torch.Tensor:
        """CLIP ids of :meth:`texts`, LongTensor [num_texts, L]."""
        ordered = self.ordered(labels, num_texts)
        tokens = self._pad_tokens[task].repeat(num_texts, 1)
        tokens[:len(ordered)] = self._class_tokens[torch.from_numpy(ordered)]
        return tokens
