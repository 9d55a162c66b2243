"""OneFormer detector: one model, task-conditioned at inference."""
from typing import Dict, List, Optional, Sequence, Tuple

from mmengine.config import ConfigDict
from torch import Tensor

from mmdet.models.detectors import Mask2Former
from mmdet.registry import MODELS
from mmdet.structures import SampleList
from mmdet.utils import OptConfigType
from ..tasks import TASK_SPECS, check_tasks
from .oneformer_head import OneFormerHead
from .strict_loading import check_missing_keys, drop_mismatched_keys

_PRED_FIELDS = {spec.result_key: spec.pred_field for spec in TASK_SPECS.values()}


@MODELS.register_module()
class OneFormer(Mask2Former):
    """OneFormer (Jain et al., CVPR 2023) on top of mmdet's Mask2Former.

    The task of an image comes from its data sample's metainfo ``'task'``,
    else from ``test_cfg.task`` / ``train_cfg.task``. ``test_cfg.tasks``
    (a list) runs every listed task on every image; the backbone and pixel
    decoder run once and the decoder runs once on all (image, task) pairs.
    Outputs: panoptic -> ``pred_panoptic_seg``, instance -> ``pred_instances``,
    semantic -> ``pred_sem_seg``.

    The task-token encoder, the text mapper and the contrastive loss belong
    to the head (``panoptic_head.task_encoder`` / ``.text_mapper`` /
    ``.loss_contrastive``); the detector resolves each image's task and
    writes the outputs.

    Args:
        allow_missing_keys (sequence of str): key prefixes a checkpoint may
            lack, for fine-tuning, e.g. ``['panoptic_head.cls_embed.']`` to
            learn a new class set (what the ``finetune`` switch sets);
            checkpoint tensors under them of another shape are left out with
            a warning. Any other missing tensor (the text mapper and
            contrastive loss excepted: training only) makes loading fail.
        **kwargs: ``Mask2Former`` arguments (keywords only).
            ``test_cfg.max_per_image`` defaults to the number of queries,
            the released instance top-k.
    """

    def __init__(self,
                 *,
                 test_cfg: OptConfigType = None,
                 allow_missing_keys: Sequence[str] = (),
                 **kwargs) -> None:
        moved = [k for k in ('task_encoder', 'text_mapper') if k in kwargs]
        if moved:
            raise TypeError(
                f'model.{moved[0]} belongs to the head now: set '
                f'model.panoptic_head.{moved[0]} instead.')
        head_cfg = kwargs['panoptic_head']
        test_cfg = ConfigDict(test_cfg or {})
        test_cfg.setdefault('max_per_image', head_cfg['num_queries'])
        super().__init__(test_cfg=test_cfg, **kwargs)
        self.allow_missing_keys = tuple(allow_missing_keys)

    def _load_from_state_dict(self, state_dict: dict, prefix: str, *args,
                              **kwargs) -> None:
        drop_mismatched_keys(self, state_dict, prefix, self.allow_missing_keys)
        check_missing_keys(
            self, state_dict, prefix,
            tuple('panoptic_head.' + p for p in OneFormerHead.TRAINING_ONLY),
            self.allow_missing_keys)
        super()._load_from_state_dict(state_dict, prefix, *args, **kwargs)

    @staticmethod
    def _tasks_of(batch_data_samples: SampleList,
                  cfg: Optional[dict]) -> List[str]:
        """Task of each sample: metainfo 'task', else ``cfg.task``."""
        default = (cfg or {}).get('task')
        tasks = [s.metainfo.get('task', default) for s in batch_data_samples]
        if None in tasks:
            raise ValueError(
                "OneFormer needs a task: set metainfo 'task' on each data "
                "sample or 'task' in the train/test cfg.")
        check_tasks(tasks)
        return tasks

    def _test_pairs(self,
                    batch_data_samples: SampleList) -> Tuple[List[str], int]:
        """Task of every (image, task) pair, image-major, and tasks per image."""
        tasks = self.test_cfg.get('tasks')
        if tasks is None:
            return self._tasks_of(batch_data_samples, self.test_cfg), 1
        if isinstance(tasks, str) or not tasks:
            raise ValueError(
                f'test_cfg.tasks is {tasks!r}: set a non-empty list of tasks '
                "(e.g. ['panoptic', 'instance', 'semantic']), or None to use "
                "each image's metainfo 'task' / test_cfg.task")
        check_tasks(tasks)
        if len(set(tasks)) != len(tasks):
            raise ValueError(f'test_cfg.tasks has duplicates: {tasks}')
        return list(tasks) * len(batch_data_samples), len(tasks)

    def loss(self, batch_inputs: Tensor,
             batch_data_samples: SampleList) -> Dict[str, Tensor]:
        """Losses of Eq. 2 with the task and text list of every sample."""
        return self.panoptic_head.loss(
            self.extract_feat(batch_inputs), batch_data_samples,
            self._tasks_of(batch_data_samples, self.train_cfg))

    def predict(self,
                batch_inputs: Tensor,
                batch_data_samples: SampleList,
                rescale: bool = True) -> SampleList:
        """Segment the images for their task(s); see the class docstring."""
        feats = self.extract_feat(batch_inputs)
        tasks, num_tasks = self._test_pairs(batch_data_samples)
        mask_cls, mask_pred = self.panoptic_head.predict(
            feats, batch_data_samples, tasks, num_tasks)
        return self.postprocess(mask_cls, mask_pred, batch_data_samples,
                                rescale)

    def postprocess(self,
                    mask_cls: Tensor,
                    mask_pred: Tensor,
                    batch_data_samples: SampleList,
                    rescale: bool = True) -> SampleList:
        """The released inference rules on the raw predictions of the
        (image, task) pairs of :meth:`_test_pairs`: this model's forward or
        an exported graph's outputs.

        Args:
            mask_cls (Tensor): Class logits [B*T, N, K+1].
            mask_pred (Tensor): Mask logits [B*T, N, H/4, W/4] (or at the
                padded input size).
            batch_data_samples (list): The B images' data samples; their
                prediction fields are written.
        """
        tasks, num_tasks = self._test_pairs(batch_data_samples)
        samples = [s for s in batch_data_samples for _ in range(num_tasks)]
        results = self.panoptic_fusion_head.predict(
            mask_cls, mask_pred, samples, tasks, rescale=rescale)
        for sample, result in zip(samples, results):
            for key, value in result.items():
                setattr(sample, _PRED_FIELDS[key], value)
        return batch_data_samples

    def _forward(self, batch_inputs: Tensor,
                 batch_data_samples: SampleList) -> Tuple:
        """Raw head outputs (see ``OneFormerHead.forward``)."""
        feats = self.extract_feat(batch_inputs)
        tasks = self._tasks_of(batch_data_samples, self.test_cfg)
        return self.panoptic_head(feats, tasks)
