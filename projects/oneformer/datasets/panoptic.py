"""COCO-panoptic-format dataset for OneFormer training (COCO, ADE20K, Cityscapes)."""
import os.path as osp
from typing import Optional, Sequence

from mmdet.datasets import CocoPanopticDataset
from mmdet.registry import DATASETS


def panoptic_metainfo(categories: Sequence[dict]) -> dict:
    """mmdet dataset metainfo (classes, thing/stuff classes, palette) of COCO-panoptic
    categories listed things first (ADE20K's, Cityscapes' and the dataset
    converters' metainfo files)."""
    names = tuple(c['name'] for c in categories)
    num_things = sum(1 for c in categories if c['isthing'])
    if any(c['isthing'] for c in categories[num_things:]):
        raise ValueError('categories must list the things first')
    return dict(classes=names, thing_classes=names[:num_things],
                stuff_classes=names[num_things:],
                palette=[tuple(c['color']) for c in categories])


@DATASETS.register_module()
class OneFormerPanopticDataset(CocoPanopticDataset):
    """mmdet's ``CocoPanopticDataset`` that refuses broken annotations and hands its
    metainfo to the pipeline.

    * A segment whose ``category_id`` is not one of the dataset's classes raises an
      error naming the annotation file, the image and the ids (mmdet raises a bare
      ``KeyError``; silently dropping it would train on a wrong target).
    * Transforms with a ``set_dataset_meta(metainfo)`` method (the task-sampling
      transform, which writes class names into the text list) receive the dataset's
      metainfo, so class names live in one place.

    Args:
        num_texts (int, optional): N_text of the model (its queries minus its
            learnable text contexts), handed to the task-sampling transform, so
            a config for another query count sets ``dataset=dict(num_texts=...)``
            instead of restating the pipeline.
        *args, **kwargs: ``CocoPanopticDataset`` arguments.
    """

    def __init__(self, *args, num_texts: Optional[int] = None,
                 **kwargs) -> None:
        super().__init__(*args, **kwargs)
        for transform in self.pipeline.transforms:
            if hasattr(transform, 'set_dataset_meta'):
                transform.set_dataset_meta(self.metainfo)
            if num_texts is not None and hasattr(transform, 'set_num_texts'):
                transform.set_num_texts(num_texts)

    def parse_data_info(self, raw_data_info: dict) -> dict:
        img_info = raw_data_info['raw_img_info']
        for ann in raw_data_info['raw_ann_info']:
            if ann['category_id'] not in self.cat2label:
                raise ValueError(
                    f"{osp.basename(self.ann_file)}: segment {ann['id']} of image "
                    f"{img_info['file_name']} (id {img_info['img_id']}) has unknown "
                    f"category_id {ann['category_id']}; the dataset's classes have "
                    f'category ids {sorted(self.cat2label)}')
        return super().parse_data_info(raw_data_info)
