"""Semantic-only data (mmseg format: image + label PNG) for OneFormer training."""
from typing import Dict, Optional, Union

import numpy as np
from mmdet.registry import DATASETS
from mmseg.datasets import BaseSegDataset

from .task_support import TaskSupportMixin


@DATASETS.register_module()
class OneFormerSemSegDataset(TaskSupportMixin, BaseSegDataset):
    """mmseg's ``BaseSegDataset`` (images and label PNGs of the same stem, or a
    split file of stems; ``reduce_zero_label`` as mmseg has it) whose labels are
    mapped into a shared class space, for the OneFormer pipeline.

    ``metainfo`` is the shared class space (classes, thing_classes,
    stuff_classes, palette) of every dataset trained together; the label
    values of this dataset's PNGs (after ``reduce_zero_label``) map into it by
    ``class_map``, and may cover a subset of it. The pipeline loads the maps
    with ``LoadStrictSemSegAnnotations``, which refuses a value outside the
    map, naming the dataset and the PNG. Its samples train the semantic task
    only (``task_probs`` defaults to ``dict(semantic=1.0)``).

    Unlike mmseg's datasets, the metainfo holds no ``label_map`` /
    ``reduce_zero_label`` (each sample does), so it equals the other datasets'
    metainfo and mmdet's ``ConcatDataset`` keeps one metainfo.

    Args:
        class_map (dict, optional): label value -> shared class name, or None
            to make the value void (255). Default: value k is shared class k.
        num_texts, task_probs, name: see ``TaskSupportMixin``.
        **kwargs: ``BaseSegDataset`` arguments (``data_root``,
            ``data_prefix=dict(img_path=..., seg_map_path=...)``,
            ``img_suffix``, ``seg_map_suffix``, ``reduce_zero_label``, ...).
    """
    ANNOTATION = 'semantic'

    def __init__(self, *args,
                 class_map: Optional[Dict[int, Union[str, None]]] = None,
                 **kwargs) -> None:
        self.class_map = class_map
        super().__init__(*args, **kwargs)
        for key in ('label_map', 'reduce_zero_label'):
            self._metainfo.pop(key, None)
        self.class_lut = self._class_lut()

    def _class_lut(self) -> np.ndarray:
        """int16 [256]: label value -> shared label, 255 void, -1 unmapped."""
        classes = list(self.metainfo['classes'])
        lut = np.full(256, -1, np.int16)
        lut[255] = 255
        if self.class_map is None:
            lut[:len(classes)] = np.arange(len(classes))
            return lut
        for value, name in self.class_map.items():
            if not 0 <= int(value) < 255:
                raise ValueError(f'{self.where()}: class_map key {value!r} is not '
                                 'a label value 0..254')
            if name is not None and name not in classes:
                raise ValueError(
                    f'{self.where()}: class_map maps {value} to {name!r}, which '
                    f'is not a class of the metainfo {tuple(classes)}')
            lut[int(value)] = 255 if name is None else classes.index(name)
        return lut

    def where(self, path: Optional[str] = None) -> str:
        return super().where(path or self.data_prefix.get('seg_map_path'))

    def get_data_info(self, idx: int) -> dict:
        info = super().get_data_info(idx)
        info['class_lut'] = self.class_lut
        return info
