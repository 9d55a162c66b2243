"""Task-conditioned joint training (paper Sec. 3.1, Fig. 3): sample a task per image
among those its annotation supports, derive that task's targets, and build the text
list."""
from typing import Dict, Optional, Sequence

import numpy as np
from mmcv.transforms import BaseTransform
from mmcv.transforms.utils import cache_randomness
from mmdet.registry import TRANSFORMS
from mmdet.structures.bbox import HorizontalBoxes
from mmdet.structures.mask import BitmapMasks

from ...tasks import SAMPLING_ORDER
from ..class_order import release_rank
from ..task_support import SUPPORTED_TASKS, cumulative_probs
from ..text_list import TextList

# the loaded targets each annotation kind has (see the loaders of its dataset)
_REQUIRED_KEYS = dict(panoptic=('gt_masks', 'gt_seg_map'),
                      semantic=('gt_seg_map', ), instance=('gt_masks', ))


@TRANSFORMS.register_module()
class OneFormerTaskSampling(BaseTransform):
    """Sample the task of an image and replace its targets by that task's targets.

    The task is drawn from the sample's ``task_probs`` (set by its dataset, see
    ``TaskSupportMixin``), else from this transform's ``task_probs``. Targets per
    annotation kind (the sample's ``annotation``, default 'panoptic'), crowd
    segments and empty masks skipped:

    * panoptic (thing instances + class map): semantic: one mask per class present
      (a thing class's instances merged); instance: one mask per thing segment;
      panoptic: one mask per thing segment and one per stuff class;
    * semantic (class map only): semantic: one mask per class present;
    * instance (instances only): instance: one mask per instance; semantic: one
      mask per class present (instances merged).

    The text list has ``num_texts`` entries: the task's pad text in every slot,
    then, class by class in the release's class order (the metainfo's
    ``release_classes``, else label order), ``text_template`` once per mask of
    that class, truncated at ``num_texts``.

    Required keys: ``gt_masks`` (non-crowd thing instances for panoptic data, as
    mmdet's panoptic loader gives them; all instances with ``gt_ignore_flags``
    for instance data, as mmdet's ``LoadAnnotations``) and ``gt_bboxes_labels``,
    and/or ``gt_seg_map`` (class per pixel, 255 void), as the kind has them.
    Optional: ``annotation``, ``task_probs``, ``dataset_name``.
    Modified keys: ``gt_masks``, ``gt_bboxes``, ``gt_bboxes_labels``,
    ``gt_ignore_flags``. Removed: ``gt_seg_map`` (the targets are complete masks).
    Added keys: ``task`` (str), ``texts`` (list of str), ``text_tokens``
    (LongTensor [num_texts, context_length], CLIP BPE ids, zero padded).

    Args:
        num_texts (int, optional): N_text = number of queries - number of
            learnable text context embeddings (134 for 150 queries, 234 for
            250). When None, the dataset's ``num_texts=...`` sets it, so that a
            config changes it without restating the pipeline.
        task_probs (dict): probability of each task for samples whose dataset
            sets none (panoptic data). The released code draws u ~ U(0, 1) and
            takes semantic if u < 0.33, instance if u < 0.66, else panoptic,
            which these defaults reproduce exactly.
        task (str, optional): always use this task (single-task training); a
            sample whose annotation cannot supply it is an error.
        class_names (sequence of str, optional): class names in label order; by
            default taken from the dataset's metainfo (the OneFormer datasets
            pass it via :meth:`set_dataset_meta`).
        num_things_classes (int, optional): labels below it are things; by default
            ``len(metainfo['thing_classes'])``.
        text_template (str): text of one mask. Defaults to 'a photo with a {}'.
        context_length (int): tokenizer length. Defaults to 77.
    """

    def __init__(self,
                 num_texts: Optional[int] = None,
                 task_probs: Dict[str, float] = dict(
                     semantic=0.33, instance=0.33, panoptic=0.34),
                 task: Optional[str] = None,
                 class_names: Optional[Sequence[str]] = None,
                 num_things_classes: Optional[int] = None,
                 text_template: str = 'a photo with a {}',
                 context_length: int = 77) -> None:
        unknown = sorted(set(task_probs) - set(SAMPLING_ORDER) |
                         ({task} - set(SAMPLING_ORDER) if task else set()))
        if unknown:
            raise ValueError(f'Unknown OneFormer task(s) {unknown}; valid tasks are '
                             f"{', '.join(repr(t) for t in SAMPLING_ORDER)}.")
        probs = np.array([task_probs.get(t, 0.0) for t in SAMPLING_ORDER])
        if task is None and (probs.min() < 0 or abs(probs.sum() - 1) > 1e-6):
            raise ValueError(f'task_probs must be >= 0 and sum to 1, got {task_probs}')
        self.num_texts = num_texts
        self.task = task
        self.cum_probs = np.cumsum(probs)
        self.text_template = text_template
        self.context_length = context_length
        self.class_names = None
        self.num_things_classes = num_things_classes
        self.release_rank = None
        if class_names is not None:
            self._set_classes(class_names, num_things_classes)

    def set_num_texts(self, num_texts: int) -> None:
        """Set N_text (from the dataset, see ``num_texts``)."""
        self.num_texts = num_texts

    def set_dataset_meta(self, metainfo: dict) -> None:
        """Take class names, the thing count and the release's class order from
        a dataset's metainfo."""
        if self.class_names is None:
            self.release_rank = release_rank(metainfo)
            things = metainfo.get('thing_classes')
            self._set_classes(
                metainfo['classes'], self.num_things_classes
                if self.num_things_classes is not None else
                (len(things) if things is not None else None))

    def _set_classes(self, class_names: Sequence[str],
                     num_things_classes: Optional[int]) -> None:
        if num_things_classes is None:
            raise ValueError('OneFormerTaskSampling needs num_things_classes (or a '
                             "dataset metainfo with 'thing_classes')")
        self.class_names = tuple(class_names)
        self.num_things_classes = num_things_classes
        self.text_list = TextList(self.class_names, self.release_rank,
                                  self.text_template, self.context_length)

    @cache_randomness
    def _sample_task(self, cum_probs: Optional[np.ndarray] = None) -> str:
        if self.task is not None:
            return self.task
        cum_probs = self.cum_probs if cum_probs is None else cum_probs
        u = np.random.rand()
        return SAMPLING_ORDER[min(int(np.searchsorted(cum_probs, u, side='right')),
                              len(SAMPLING_ORDER) - 1)]

    @staticmethod
    def _where(results: dict) -> str:
        """The dataset and file of a sample, for error messages."""
        path = results.get('seg_map_path') or results.get('img_path')
        return f"dataset '{results.get('dataset_name', '?')}' ({path})"

    def _targets(self, task: str, annotation: str, results: dict):
        """Masks [M, H, W] (bool) and labels [M] of ``task``."""
        sem = results.get('gt_seg_map')
        if 'gt_masks' in results:
            thing_masks = results['gt_masks'].masks.astype(bool)
            thing_labels = np.asarray(results['gt_bboxes_labels'], dtype=np.int64)
            h, w = results['gt_masks'].height, results['gt_masks'].width
            if annotation == 'instance':
                # mmdet's LoadAnnotations keeps crowd instances, flagged
                keep = ~np.asarray(results['gt_ignore_flags'], dtype=bool)
                thing_masks, thing_labels = thing_masks[keep], thing_labels[keep]
        else:
            h, w = sem.shape
            thing_masks = np.zeros((0, h, w), bool)
            thing_labels = np.zeros(0, np.int64)
        masks, labels = [], []
        if task == 'semantic':
            for label in np.unique(thing_labels):
                masks.append(thing_masks[thing_labels == label].any(0))
                labels.append(label)
        else:
            masks.extend(thing_masks)
            labels.extend(thing_labels)
        if task != 'instance' and sem is not None:
            # Panoptic data: crowd pixels carry thing labels in gt_seg_map, only
            # stuff is read here; semantic data: every class comes from the map.
            first = self.num_things_classes if annotation == 'panoptic' else 0
            for label in np.unique(sem):
                if first <= label < len(self.class_names):
                    masks.append(sem == label)
                    labels.append(label)
        keep = [i for i, m in enumerate(masks) if m.any()]
        masks = np.stack([masks[i] for i in keep]) if keep else np.zeros((0, h, w), bool)
        return masks, np.array([labels[i] for i in keep], dtype=np.int64)

    def transform(self, results: dict) -> dict:
        if self.class_names is None:
            raise RuntimeError(
                'OneFormerTaskSampling has no class names: use a OneFormer '
                "dataset type (e.g. 'OneFormerPanopticDataset', which passes its "
                'metainfo) or set class_names= in the transform config')
        if self.num_texts is None:
            raise RuntimeError(
                'OneFormerTaskSampling has no num_texts (number of queries - '
                'text contexts): set it in the transform config or as '
                "num_texts= of the OneFormer dataset")
        annotation = results.get('annotation', 'panoptic')
        missing = [k for k in _REQUIRED_KEYS[annotation] if k not in results]
        if missing:
            raise KeyError(f'{self._where(results)}: {annotation} annotations '
                           f'need {missing} loaded before OneFormerTaskSampling')
        if 'gt_seg_map' in results:
            labels_seen = np.unique(results['gt_seg_map'])
            labels_seen = labels_seen[labels_seen != 255]
            if len(labels_seen) and labels_seen.max() >= len(self.class_names):
                raise ValueError(
                    f'{self._where(results)}: label {labels_seen.max()} but only '
                    f'{len(self.class_names)} class names are configured')
        probs = results.get('task_probs')
        task = self._sample_task(None if probs is None else cumulative_probs(probs))
        thing_only = self.num_things_classes == len(self.class_names)
        if task not in SUPPORTED_TASKS[annotation] or (
                annotation == 'instance' and task == 'semantic' and not thing_only):
            raise ValueError(
                f'{self._where(results)}: task {task!r} cannot be trained from '
                f'{annotation} annotations (they supply '
                f'{SUPPORTED_TASKS[annotation]}, semantic only for a class space '
                'without stuff); drop task= or this dataset')
        masks, labels = self._targets(task, annotation, results)
        h, w = masks.shape[1:]
        results['gt_masks'] = BitmapMasks(masks.astype(np.uint8), h, w)
        results['gt_bboxes'] = results['gt_masks'].get_bboxes(HorizontalBoxes)
        results['gt_bboxes_labels'] = labels
        results['gt_ignore_flags'] = np.zeros(len(labels), dtype=bool)
        results.pop('gt_seg_map', None)
        results['task'] = task
        results['texts'] = self.text_list.texts(task, labels, self.num_texts)
        results['text_tokens'] = self.text_list.tokens(task, labels, self.num_texts)
        return results

    def __repr__(self) -> str:
        probs = np.diff(np.concatenate([[0.0], self.cum_probs]))
        return (f'{self.__class__.__name__}(num_texts={self.num_texts}, '
                f'task={self.task!r}, task_probs={dict(zip(SAMPLING_ORDER, probs))})')
