"""COCO-panoptic-format dataset for OneFormer training (COCO, ADE20K, Cityscapes)."""
import json
from typing import List, Optional, Sequence

from mmdet.datasets import CocoPanopticDataset
from mmdet.registry import DATASETS

from .task_support import TaskSupportMixin


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
class OneFormerPanopticDataset(TaskSupportMixin, CocoPanopticDataset):
    """mmdet's ``CocoPanopticDataset`` that refuses broken annotations and hands its
    metainfo, N_text and task probabilities to the pipeline (``TaskSupportMixin``).

    * A segment whose ``category_id`` is not one of the dataset's classes raises an
      error naming the annotation file, the image and the ids (mmdet raises a bare
      ``KeyError``; silently dropping it would train on a wrong target). With
      ``collected_problems`` set to a list, every such segment is appended to it
      and left out instead (``tools/misc/check_dataset.py``).
    * A malformed annotation file raises an error naming it.

    Args:
        num_texts, task_probs, name: see ``TaskSupportMixin`` (a config for
            another query count sets ``dataset=dict(num_texts=...)`` instead of
            restating the pipeline).
        *args, **kwargs: ``CocoPanopticDataset`` arguments.
    """

    # None: raise at the first unknown category; a list: collect them all
    collected_problems: Optional[List[str]] = None

    def load_data_list(self) -> List[dict]:
        try:
            return super().load_data_list()
        except json.JSONDecodeError as err:
            raise ValueError(
                f'{self.ann_file}: not valid JSON ({err}); regenerate the '
                'annotation file or fix it at that position') from err

    def _unknown_category_segments(self, raw_data_info: dict) -> List[dict]:
        """The image's segments whose ``category_id`` is not one of the
        dataset's classes."""
        img_id = raw_data_info['raw_img_info']['img_id']
        # mmdet's COCOPanoptic indexes segments by id, which is unique only
        # within an image: keep this image's (as mmdet's parse_data_info does)
        return [ann for ann in raw_data_info['raw_ann_info']
                if ann['image_id'] == img_id
                and ann['category_id'] not in self.cat2label]

    def _category_problem(self, img_info: dict, ann: dict) -> str:
        """One line naming the file, the image and the unknown segment."""
        return (f"{self.ann_file}: segment {ann['id']} of image "
                f"{img_info['file_name']} (id {img_info['img_id']}) has "
                f"unknown category_id {ann['category_id']}; the dataset's "
                f'classes have category ids {sorted(self.cat2label)}: fix '
                "the segment or add the category to the file's categories "
                "and the config's metainfo")

    def parse_data_info(self, raw_data_info: dict) -> dict:
        unknown = self._unknown_category_segments(raw_data_info)
        if not unknown:
            return super().parse_data_info(raw_data_info)
        img_info = raw_data_info['raw_img_info']
        if self.collected_problems is None:
            raise ValueError(self._category_problem(img_info, unknown[0]))
        # collecting (tools/misc/check_dataset.py): leave the segments out, keep
        # their ids so that their PNG pixels are not reported a second time
        self.collected_problems.extend(
            self._category_problem(img_info, ann) for ann in unknown)
        data_info = super().parse_data_info(dict(raw_data_info, raw_ann_info=[
            ann for ann in raw_data_info['raw_ann_info'] if ann not in unknown]))
        data_info['unknown_category_segments'] = [ann['id'] for ann in unknown]
        return data_info
