"""mmdet's ``CocoPanopticMetric``, leaving the predictions it scores as they were.

mmdet 3.3.0's metric (``_parse_predictions``) reads a prediction's panoptic map with ``.cpu().numpy()``
and then writes COCO's VOID id (0) over the map's void ids (``num_classes``)
in that array. For a map on the CPU that array is the prediction's own
memory, so every later reader of the same data sample - the test loop's
``DetVisualizationHook`` (``tools/test.py --show-dir``, which then paints the
void pixels as class 0) and ``DumpDetResults`` (``--out``) - gets a changed
map. On a GPU ``.cpu()`` copies and nothing changes.

This subclass hands the parent a copy of the map; the scores are the
parent's. It is registered under mmdet's name, so every config's
``type='CocoPanopticMetric'`` builds it once a project here is imported.
"""
from mmdet.evaluation.metrics import CocoPanopticMetric as _MMDetCocoPanopticMetric
from mmdet.registry import METRICS


@METRICS.register_module(name='CocoPanopticMetric', force=True)
class CocoPanopticMetric(_MMDetCocoPanopticMetric):
    """mmdet's ``CocoPanopticMetric`` (same arguments, same scores) that
    does not write into the predictions' panoptic maps."""

    def _parse_predictions(self, pred: dict, *args, **kwargs) -> dict:
        panoptic = dict(pred['pred_panoptic_seg'])
        panoptic['sem_seg'] = panoptic['sem_seg'].clone()  # [1, H, W]
        return super()._parse_predictions(
            dict(pred, pred_panoptic_seg=panoptic), *args, **kwargs)
