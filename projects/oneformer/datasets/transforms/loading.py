"""Panoptic annotation loading that fails loudly on broken annotations."""
import numpy as np
from mmdet.datasets.transforms import LoadPanopticAnnotations
from mmdet.registry import TRANSFORMS


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
