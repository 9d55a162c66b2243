"""Evaluation of concatenated val sets: each dataset scored by its own metrics."""
from typing import Dict, List, Optional, Sequence, Union

from mmengine.evaluator import BaseMetric, Evaluator
from mmengine.structures import BaseDataElement

from mmdet.registry import EVALUATOR, METRICS


class DatasetMetric(BaseMetric):
    """A metric that scores only the samples of one dataset (their
    ``dataset_name``, set by the OneFormer datasets), named ``<dataset>/``.

    Other samples leave a placeholder (None) in ``results``, so that every rank
    holds one entry per sample and mmengine's ``collect_results`` orders and
    trims the entries of all ranks as for any metric; the placeholders are
    dropped before the wrapped metric computes.
    """

    def __init__(self, dataset: str, metric: BaseMetric) -> None:
        prefix = '/'.join(p for p in (dataset, metric.prefix) if p)
        super().__init__(collect_device=metric.collect_device, prefix=prefix,
                         collect_dir=getattr(metric, 'collect_dir', None))
        self.dataset = dataset
        self.metric = metric

    @BaseMetric.dataset_meta.setter
    def dataset_meta(self, dataset_meta: dict) -> None:
        self._dataset_meta = dataset_meta
        self.metric.dataset_meta = dataset_meta

    def process(self, data_batch, data_samples: Sequence[dict]) -> None:
        inner = self.metric.results
        for sample in data_samples:
            if sample.get('dataset_name') != self.dataset:
                self.results.append(None)
                continue
            start = len(inner)
            self.metric.process(data_batch, [sample])
            self.results.extend(inner[start:])
            del inner[start:]

    def compute_metrics(self, results: list) -> dict:
        return self.metric.compute_metrics(
            [r for r in results if r is not None])


@EVALUATOR.register_module()
class PerDatasetEvaluator(Evaluator):
    """Evaluate a val/test ``ConcatDataset`` of OneFormer datasets, each by the
    metrics of the tasks it has ground truth for; a metric's keys get the
    dataset's name in front (``toy/coco_panoptic/PQ``), which the one-run table
    shows as its dataset column.

    Args:
        metrics (dict): dataset name (the datasets' ``name=``) -> its metric
            configs (or metrics), in table order.
    """

    def __init__(self, metrics: Dict[str, Union[dict, BaseMetric, List]]) -> None:
        wrapped = []
        for dataset, group in metrics.items():
            for metric in group if isinstance(group, (list, tuple)) else [group]:
                metric = METRICS.build(metric) if isinstance(metric, dict) else metric
                wrapped.append(DatasetMetric(dataset, metric))
        super().__init__(wrapped)
        self.datasets = tuple(metrics)

    def process(self, data_samples: Sequence[BaseDataElement],
                data_batch: Optional[dict] = None) -> None:
        for sample in data_samples:
            name = sample.metainfo.get('dataset_name') if isinstance(
                sample, BaseDataElement) else sample.get('dataset_name')
            if name not in self.datasets:
                raise ValueError(
                    f"a val sample of dataset {name!r} ({sample.get('img_path')}) "
                    f'has no metrics: PerDatasetEvaluator has metrics for '
                    f'{self.datasets}; give each val dataset one of these names '
                    '(name=...) or add its metrics')
        super().process(data_samples, data_batch)
