"""Packing for OneFormer training: mmdet's PackDetInputs plus the task and texts."""
from mmdet.datasets.transforms import PackDetInputs
from mmdet.registry import TRANSFORMS


@TRANSFORMS.register_module()
class PackOneFormerInputs(PackDetInputs):
    """``PackDetInputs`` that also carries what ``OneFormerTaskSampling`` adds.

    The sampled ``task`` becomes metainfo (``data_sample.task``), as the model reads
    it at training and at test time; ``text_tokens`` [N_text, 77] becomes a data field
    of the sample (``data_sample.text_tokens``) for the text mapper. The
    ``dataset_name`` a OneFormer dataset gives each sample becomes metainfo too, so
    ``PerDatasetEvaluator`` scores it with its dataset's metrics. Otherwise this is
    exactly ``PackDetInputs``.
    """

    def transform(self, results: dict) -> dict:
        packed = super().transform(results)
        sample = packed['data_samples']
        for key in ('task', 'dataset_name'):
            if key in results:
                sample.set_metainfo({key: results[key]})
        if 'text_tokens' in results:
            sample.text_tokens = results['text_tokens']
        return packed
