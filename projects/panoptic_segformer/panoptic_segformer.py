"""Panoptic SegFormer detector on mmdet's Deformable DETR."""
from typing import Dict

from torch import Tensor

from mmdet.models.detectors import DeformableDETR
from mmdet.registry import MODELS
from mmdet.structures import SampleList


@MODELS.register_module()
class PanopticSegFormer(DeformableDETR):
    """`Panoptic SegFormer <https://arxiv.org/abs/2109.03814>`_.

    mmdet's ``DeformableDETR`` (backbone, ChannelMapper with one extra level,
    deformable encoder, location decoder with box refinement) whose head,
    :class:`PanopticSegFormerHead`, also receives the encoder memory for
    the thing and stuff mask decoders.

    ``predict`` fills ``pred_panoptic_seg`` (mask-wise merging),
    ``pred_instances`` (thing masks, scores, labels, boxes) and
    ``pred_sem_seg`` (class of every painted pixel) of each sample.
    """

    def forward_decoder(self, memory: Tensor, memory_mask: Tensor,
                        spatial_shapes: Tensor, **kwargs) -> Dict:
        """Deformable DETR decoder; the memory (B, L, C) and its level
        shapes are passed on to the head."""
        outputs = super().forward_decoder(
            memory=memory, memory_mask=memory_mask,
            spatial_shapes=spatial_shapes, **kwargs)
        outputs.update(memory=memory, spatial_shapes=spatial_shapes)
        return outputs

    def predict(self, batch_inputs: Tensor, batch_data_samples: SampleList,
                rescale: bool = True) -> SampleList:
        head_inputs = self.forward_transformer(
            self.extract_feat(batch_inputs), batch_data_samples)
        results = self.bbox_head.predict(
            **head_inputs, rescale=rescale,
            batch_data_samples=batch_data_samples)
        for sample, result in zip(batch_data_samples, results):
            sample.pred_panoptic_seg = result['pan']
            sample.pred_instances = result['ins']
            sample.pred_sem_seg = result['sem']
        return batch_data_samples
