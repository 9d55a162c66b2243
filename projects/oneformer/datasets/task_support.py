"""Which tasks an annotation can supply, and the per-dataset task probabilities.

A panoptic annotation supplies all three tasks' targets; a semantic label map only
the semantic task's; instance annotations the instance task's, and the semantic
task's only where the class space has no stuff classes (else every stuff pixel of
the image would be taught as "no object"). Each dataset states its annotation kind
(``ANNOTATION``) and hands its task probabilities to the task-sampling transform
through every sample (``data_info['task_probs']``), so one pipeline serves
concatenated datasets of different kinds.
"""
from typing import Dict, Optional

import numpy as np
from mmdet.visualization.palette import get_palette

from ..tasks import SAMPLING_ORDER, TASKS

#: annotation kind -> the tasks its targets can be derived for
SUPPORTED_TASKS = dict(panoptic=TASKS, semantic=('semantic', ),
                       instance=('instance', 'semantic'))
#: task probabilities of a dataset that sets none (panoptic: None = the
#: transform's own, the release's thresholds)
DEFAULT_TASK_PROBS = dict(panoptic=None, semantic=dict(semantic=1.0),
                          instance=dict(instance=1.0))


def check_task_probs(task_probs: Optional[Dict[str, float]], annotation: str,
                     where: str, stuff_classes=()) -> Optional[Dict[str, float]]:
    """Validate a dataset's ``task_probs`` for its ``annotation`` kind; return
    them (or the kind's default). ``where`` names the dataset and its file in
    the one-line errors."""
    if task_probs is None:
        return DEFAULT_TASK_PROBS[annotation]
    unknown = sorted(set(task_probs) - set(TASKS))
    if unknown:
        raise ValueError(f'{where}: task_probs names unknown task(s) {unknown}; '
                         f'valid tasks are {TASKS}')
    allowed = {t: float(p) for t, p in task_probs.items() if p > 0}
    if not allowed or any(p < 0 for p in task_probs.values()):
        raise ValueError(
            f'{where}: the allowed tasks are empty (task_probs={task_probs}); '
            f'give a positive probability to one of '
            f'{SUPPORTED_TASKS[annotation]} ({annotation} annotations)')
    unsupported = [t for t in allowed if t not in SUPPORTED_TASKS[annotation]]
    if unsupported:
        raise ValueError(
            f'{where}: {annotation} annotations cannot supply {unsupported} '
            f'targets (task_probs={task_probs}); allowed: '
            f'{SUPPORTED_TASKS[annotation]}')
    if annotation == 'instance' and 'semantic' in allowed and len(stuff_classes):
        raise ValueError(
            f'{where}: semantic targets from instance annotations need a class '
            f'space without stuff classes (it has {tuple(stuff_classes)}): their '
            'pixels would be trained as no object; drop semantic from task_probs')
    if abs(sum(allowed.values()) - 1) > 1e-6:
        raise ValueError(f'{where}: task_probs must sum to 1, got {task_probs}')
    return {t: allowed.get(t, 0.0) for t in SAMPLING_ORDER}


def cumulative_probs(task_probs: Dict[str, float]) -> np.ndarray:
    """Cumulative probabilities [3] in ``SAMPLING_ORDER`` (the release draws
    u ~ U(0, 1) and takes the first task whose cumulative probability exceeds u)."""
    return np.cumsum([task_probs.get(t, 0.0) for t in SAMPLING_ORDER])


class TaskSupportMixin:
    """What every OneFormer training dataset adds to its mmdet/mmseg base class.

    * Transforms with ``set_dataset_meta(metainfo)`` (the task-sampling transform,
      which writes class names into the text list) receive the dataset's metainfo,
      and with ``set_num_texts`` its ``num_texts``.
    * A ``metainfo`` without a palette gets mmdet's random palette of its class
      count, not the base class's default (COCO's), so that datasets of
      different base classes given the same classes have the same metainfo.
    * Every sample carries ``annotation`` (the kind, ``ANNOTATION``),
      ``dataset_name`` and, where set, ``task_probs``: the task-sampling
      transform samples from them, the packer stores ``dataset_name`` in the data
      sample for ``PerDatasetEvaluator``.

    Args:
        num_texts (int, optional): N_text of the model (its queries minus its
            learnable text contexts), handed to the task-sampling transform.
        task_probs (dict, optional): probability of each task for this
            dataset's samples (tasks its annotation cannot supply are refused).
            Default: panoptic data the transform's (the release's thresholds),
            semantic data ``dict(semantic=1.0)``, instance data
            ``dict(instance=1.0)``.
        name (str, optional): the dataset's name in errors and in
            per-dataset evaluation. Defaults to the class name.
    """
    #: the annotation kind: 'panoptic', 'semantic' or 'instance'
    ANNOTATION = 'panoptic'

    def __init__(self, *args, num_texts: Optional[int] = None,
                 task_probs: Optional[Dict[str, float]] = None,
                 name: Optional[str] = None, **kwargs) -> None:
        self.name = name or type(self).__name__
        metainfo = kwargs.get('metainfo')
        if metainfo and 'classes' in metainfo and 'palette' not in metainfo:
            kwargs['metainfo'] = dict(metainfo, palette=[
                tuple(int(v) for v in c)
                for c in get_palette('random', len(metainfo['classes']))])
        super().__init__(*args, **kwargs)
        self.task_probs = check_task_probs(
            task_probs, self.ANNOTATION, self.where(),
            self.metainfo.get('stuff_classes') or ())
        for transform in getattr(self.pipeline, 'transforms', []):
            if hasattr(transform, 'set_dataset_meta'):
                transform.set_dataset_meta(self.metainfo)
            if num_texts is not None and hasattr(transform, 'set_num_texts'):
                transform.set_num_texts(num_texts)

    def where(self, path: Optional[str] = None) -> str:
        """'dataset <name> (<file>)' for error messages; the file defaults to
        the annotation file (the data root when there is none)."""
        return f"dataset '{self.name}' ({path or self.ann_file or self.data_root})"

    def get_data_info(self, idx: int) -> dict:
        info = super().get_data_info(idx)
        info['annotation'] = self.ANNOTATION
        info['dataset_name'] = self.name
        if self.task_probs is not None:
            info['task_probs'] = self.task_probs
        return info
