"""Instance-only data (COCO instances JSON with masks) for OneFormer training."""
from typing import Dict, List, Optional, Union

from mmdet.datasets import CocoDataset
from mmdet.registry import DATASETS

from .task_support import TaskSupportMixin

_UNMAPPED = object()


@DATASETS.register_module()
class OneFormerCocoInstanceDataset(TaskSupportMixin, CocoDataset):
    """mmdet's ``CocoDataset`` whose categories are mapped into a shared class
    space, for the OneFormer pipeline (load masks with mmdet's
    ``LoadAnnotations(with_bbox=True, with_mask=True)``).

    ``metainfo`` is the shared class space of every dataset trained together;
    each category of the JSON maps by name into its thing classes through
    ``class_map`` and may cover a subset of them. mmdet would skip an
    annotation of a category the metainfo does not name, and number the
    categories it finds 0..K-1 whatever the shared order; here every category
    of the file needs a mapping (an error names the dataset, the file and the
    category), and labels are the shared ones. Its samples train the instance
    task only (``task_probs`` defaults to ``dict(instance=1.0)``; semantic is
    allowed for a class space without stuff).

    Args:
        class_map (dict, optional): category name of the JSON -> shared thing
            class name, or None to leave that category's instances out.
            Default: every category is the shared class of its name.
        num_texts, task_probs, name: see ``TaskSupportMixin``.
        **kwargs: ``CocoDataset`` arguments.
    """
    ANNOTATION = 'instance'

    def __init__(self, *args,
                 class_map: Optional[Dict[str, Union[str, None]]] = None,
                 **kwargs) -> None:
        self.class_map = class_map
        self._shared_labels: Optional[Dict[int, Optional[int]]] = None
        super().__init__(*args, **kwargs)

    def _map_categories(self) -> Dict[int, Optional[int]]:
        """Category id of the JSON -> shared label (None: left out)."""
        classes = list(self.metainfo['classes'])
        things = list(self.metainfo.get('thing_classes') or classes)
        labels = {}
        for cat_id, cat in self.coco.cats.items():
            name = cat['name']
            if self.class_map is None:
                target = name if name in classes else _UNMAPPED
            else:
                target = self.class_map.get(name, _UNMAPPED)
            if target is _UNMAPPED:
                raise ValueError(
                    f"{self.where()}: instance category {cat_id} '{name}' has "
                    'no mapping: ' + (f'it is not a class of the metainfo '
                                      f'{tuple(classes)}; set class_map' if
                                      self.class_map is None else
                                      "add it to the dataset's class_map") +
                    ' (None to leave its instances out)')
            if target is not None and target not in things:
                raise ValueError(
                    f"{self.where()}: class_map maps category '{name}' to "
                    f"{target!r}, which is not a thing class of the metainfo "
                    f'{tuple(things)}')
            labels[cat_id] = None if target is None else classes.index(target)
        # mmdet's filter_data keeps images with annotations of these categories
        self.cat_ids = [c for c, label in labels.items() if label is not None]
        self.cat2label = {c: label for c, label in labels.items()
                          if label is not None}
        return labels

    def parse_data_info(self, raw_data_info: dict) -> Union[dict, List[dict]]:
        if self._shared_labels is None:  # self.coco is loaded
            self._shared_labels = self._map_categories()
        img_info = raw_data_info['raw_img_info']
        for ann in raw_data_info['raw_ann_info']:
            if ann['category_id'] not in self._shared_labels:
                raise ValueError(
                    f"{self.where()}: annotation {ann.get('id')} of image "
                    f"{img_info['file_name']} (id {img_info['img_id']}) has "
                    f"category_id {ann['category_id']}, which the file's "
                    'categories do not list; add the category')
        return super().parse_data_info(dict(raw_data_info, raw_ann_info=[
            ann for ann in raw_data_info['raw_ann_info']
            if self._shared_labels[ann['category_id']] is not None]))
