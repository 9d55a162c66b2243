"""Annotation loading that fails loudly on broken annotations (panoptic PNGs, label
maps)."""
from typing import List, Optional

import cv2
import mmcv
import numpy as np
from mmcv.transforms import LoadAnnotations
from mmdet.datasets.transforms import LoadPanopticAnnotations
from mmdet.registry import TRANSFORMS
from mmengine import fileio
from mmseg.datasets.transforms import LoadAnnotations as MMSegLoadAnnotations

# COCO panoptic: id 0 (black) is unlabelled
VOID_ID = 0


@TRANSFORMS.register_module()
class LoadStrictPanopticAnnotations(LoadPanopticAnnotations):
    """mmdet's ``LoadPanopticAnnotations`` that refuses a PNG its annotation does
    not describe.

    Each error is one line naming the PNG, the image id and the segment ids:

    * a missing PNG (``FileNotFoundError``) or one that does not decode (truncated,
      not a PNG);
    * a PNG whose size is not the image's (mmdet fails with a bare reshape error);
    * a segment id in the PNG that ``segments_info`` does not list (mmdet makes its
      pixels void, so the model trains on a wrong target);
    * a listed segment id that does not occur in the PNG (mmdet gives it an empty
      mask, so it would vanish from the targets without a trace).
    The checks cost one ``np.unique`` of the id map per image.
    :meth:`png_problems` returns all of an image's problems
    (``tools/misc/check_dataset.py``). Crowd segments are handled as in mmdet: not
    targets, their pixels keep their class in ``gt_seg_map``.
    """

    def __init__(self, *args, **kwargs) -> None:
        super().__init__(*args, **kwargs)
        self._rgb2id = self.rgb2id
        self.rgb2id = self._checked_rgb2id
        self._current = None

    @staticmethod
    def png_problems(ids: np.ndarray, results: dict) -> List[str]:
        """Every way the id map ``ids`` [H, W] of ``results['seg_map_path']``
        disagrees with ``results`` (its ``segments_info`` and image size), one
        line each."""
        png, img_id = results['seg_map_path'], results.get('img_id')
        shape = results.get('ori_shape') or (results.get('height'),
                                              results.get('width'))
        problems = []
        if None not in shape and tuple(ids.shape) != tuple(shape):
            problems.append(
                f'{png}: the PNG is {ids.shape[0]}x{ids.shape[1]} (HxW) but '
                f"image {img_id} ({results.get('img_path')}) is "
                f"{shape[0]}x{shape[1]}; write the PNG at the image's size")
        present = set(np.unique(ids).tolist()) - {VOID_ID}
        listed = [s['id'] for s in results['segments_info']]
        unlisted = sorted(present - set(listed))
        if unlisted:
            problems.append(
                f'{png}: segment id(s) {unlisted} of image {img_id} occur in '
                'the PNG but are not listed in its segments_info (listed: '
                f'{sorted(listed)}); add them to the annotation file or paint '
                'their pixels 0 (void)')
        missing = [i for i in listed if i not in present]
        if missing:
            problems.append(
                f'{png}: segment id(s) {missing} of image {img_id} are listed '
                'in the annotation file but do not occur in the PNG (ids '
                f'present: {sorted(present)}); remove them from segments_info '
                'or fix the PNG')
        return problems

    def _checked_rgb2id(self, pan_png: np.ndarray) -> np.ndarray:
        ids = self._rgb2id(pan_png)
        problems = self.png_problems(ids, self._current)
        if problems:
            raise ValueError('; '.join(problems))
        return ids

    def transform(self, results: dict) -> dict:
        self._current = results  # read by _checked_rgb2id during the parent's load
        try:
            return super().transform(results)
        except FileNotFoundError as err:
            raise FileNotFoundError(
                f"panoptic PNG of image {results.get('img_id')} not found: "
                f"{results.get('seg_map_path')}") from err
        except cv2.error as err:
            raise ValueError(
                f"{results.get('seg_map_path')}: the panoptic PNG of image "
                f"{results.get('img_id')} does not decode (truncated or not a "
                'PNG); regenerate it') from err
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


@TRANSFORMS.register_module()
class LoadStrictSemSegAnnotations(MMSegLoadAnnotations):
    """mmseg's ``LoadAnnotations`` (label PNG, ``reduce_zero_label`` as mmseg has
    it: 0 -> 255, k -> k - 1) followed by the dataset's class map into the shared
    class space, refusing values the map does not name and maps of another size
    than the image (load the image first).

    Required keys: ``seg_map_path``, ``reduce_zero_label``, ``seg_fields`` and
    ``class_lut`` (int16 [256]: label value -> shared label, 255 void, -1 not in
    the class map), added by ``OneFormerSemSegDataset``.
    Added keys: ``gt_seg_map`` (uint8 [H, W], shared labels, 255 void).
    """

    def _load_seg_map(self, results: dict) -> None:
        path = results['seg_map_path']
        where = f"dataset '{results.get('dataset_name', '?')}' ({path})"
        try:
            super()._load_seg_map(results)
        except FileNotFoundError as err:
            raise FileNotFoundError(f'{where}: label map of image '
                                    f"{results.get('img_path')} not found") from err
        seg = results['gt_seg_map']
        if seg.ndim != 2:
            raise ValueError(f'{where}: a label map has one channel, got shape '
                             f'{seg.shape}; write class indices, not colours')
        shape = results.get('ori_shape')
        if shape is not None and tuple(seg.shape) != tuple(shape[:2]):
            raise ValueError(
                f'{where}: the label map is {seg.shape[0]}x{seg.shape[1]} (HxW) '
                f"but image {results.get('img_path')} is {shape[0]}x{shape[1]}; "
                "write the label map at the image's size")
        lut = results['class_lut']
        unmapped = np.unique(seg[lut[seg] < 0])
        if len(unmapped):
            mapped = np.flatnonzero(lut >= 0).tolist()
            raise ValueError(
                f'{where}: label value(s) {unmapped.tolist()} (after '
                f"reduce_zero_label={results['reduce_zero_label']}) are outside "
                f'the class map (its values: {[v for v in mapped if v != 255]}); '
                'add them to class_map (None to ignore them)')
        results['gt_seg_map'] = lut[seg].astype(np.uint8)
