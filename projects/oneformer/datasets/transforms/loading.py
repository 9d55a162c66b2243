"""Annotation loading that fails loudly on broken annotations."""
from typing import Optional

import mmcv
import numpy as np
from mmcv.transforms import LoadAnnotations
from mmdet.datasets.transforms import LoadPanopticAnnotations
from mmdet.registry import TRANSFORMS
from mmengine import fileio


@TRANSFORMS.register_module()
class LoadStrictPanopticAnnotations(LoadPanopticAnnotations):
    """mmdet's ``LoadPanopticAnnotations`` plus two checks.

    * A missing panoptic PNG raises ``FileNotFoundError`` naming the PNG and the image.
    * A segment listed in the annotation whose id does not occur in the PNG raises
      ``ValueError`` naming the PNG and the ids (mmdet would give it an empty mask, so
      the segment would vanish from the targets without a trace).
    Crowd segments are handled as in mmdet: not targets, their pixels keep their class
    in ``gt_seg_map``.
    """

    def __init__(self, *args, **kwargs) -> None:
        super().__init__(*args, **kwargs)
        self._rgb2id = self.rgb2id
        self.rgb2id = self._checked_rgb2id
        self._current = None

    def _checked_rgb2id(self, pan_png: np.ndarray) -> np.ndarray:
        ids = self._rgb2id(pan_png)
        present = set(np.unique(ids).tolist())
        missing = [s['id'] for s in self._current['segments_info']
                   if s['id'] not in present]
        if missing:
            raise ValueError(
                f"{self._current['seg_map_path']}: segment id(s) {missing} of image "
                f"{self._current.get('img_id')} are listed in the annotation file but "
                f'do not occur in the PNG (ids present: {sorted(present)})')
        return ids

    def transform(self, results: dict) -> dict:
        self._current = results  # read by _checked_rgb2id during the parent's load
        try:
            return super().transform(results)
        except FileNotFoundError as err:
            raise FileNotFoundError(
                f"panoptic PNG of image {results.get('img_id')} not found: "
                f"{results.get('seg_map_path')}") from err
        finally:
            self._current = None


@TRANSFORMS.register_module()
class LoadSceneParsingSemSeg(LoadAnnotations):
    """ADE20K's SceneParsing semantic map as ``gt_seg_map``: the released mIoU
    ground truth (``ade20k_sem_seg_val``). An mmcv ``LoadAnnotations`` that
    loads only the segmentation map, so pipelines for unannotated images drop
    it like every annotation loader.

    It labels every pixel of the 150 classes, also thing pixels that no
    instance covers, which the panoptic PNG leaves void. Values 0 (other) ->
    255, k -> the dataset's label of category k - 1.

    Required keys: ``sem_seg_path`` and ``sem_seg_lut`` (uint8 [256]), added by
    ``OneFormerADE20KPanopticDataset(sem_seg_prefix=...)``.
    Added keys: ``gt_seg_map`` (uint8 [H, W]).
    """

    def __init__(self, backend_args: Optional[dict] = None) -> None:
        super().__init__(with_bbox=False, with_label=False, with_seg=True,
                         imdecode_backend='pillow', backend_args=backend_args)

    def _load_seg_map(self, results: dict) -> None:
        path = results['sem_seg_path']
        try:
            data = fileio.get(path, backend_args=self.backend_args)
        except FileNotFoundError as err:
            raise FileNotFoundError(
                f"SceneParsing map of image {results.get('img_id')} not found: "
                f'{path}') from err
        seg = mmcv.imfrombytes(data, flag='unchanged',
                               backend=self.imdecode_backend)
        if seg.ndim != 2:
            raise ValueError(f'{path}: a SceneParsing map has one channel, got '
                             f'shape {seg.shape}')
        results['gt_seg_map'] = results['sem_seg_lut'][seg]
