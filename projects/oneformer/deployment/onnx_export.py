"""One ONNX graph for all three tasks: images and task ids in, logits out.

The graph ends where the post-processing starts: the released inference
rules (upsample, crop, resize, then the task's rule) stay in Python and are
the PyTorch path's own (``OneFormer.postprocess``,
``OneFormerSegHead.semantic_scores``), run on the graph's outputs.
"""
import json
import os
import time
from typing import Optional, Sequence, Tuple

import torch
from torch import Tensor, nn

from mmdet.models.detectors import Mask2Former
from ..models import OneFormer

#: the opset the exporter writes (GridSample with 4-D inputs needs >= 16)
OPSET = 18
INPUT_NAMES = ('images', 'tasks')
OUTPUT_NAMES = ('cls_logits', 'mask_logits')
#: ONNX metadata key of the classes, thing/stuff split and palette
META_KEY = 'dataset_meta'


class OneFormerGraph(nn.Module):
    """The mmdet OneFormer from images to its final logits.

    Inputs: normalised, padded images [B, 3, H, W] and task ids [B, T]
    (indices in ``TASKS``; T tasks per image share the backbone and pixel
    decoder). Outputs: class logits [B*T, N, K+1] and mask logits
    [B*T, N, H/4, W/4], pairs image-major as ``OneFormer.postprocess`` takes
    them.
    """

    def __init__(self, model: OneFormer) -> None:
        super().__init__()
        self.model = model

    def forward(self, images: Tensor, tasks: Tensor) -> Tuple[Tensor, Tensor]:
        cls_preds, mask_preds, _ = self.model.panoptic_head(
            self.model.extract_feat(images), tasks.flatten(), tasks.shape[1],
            all_predictions=False)
        return cls_preds[-1], mask_preds[-1]


class SegmentorGraph(nn.Module):
    """An mmseg ``EncoderDecoder`` with the OneFormer head, from images
    [B, 3, H, W] to the final class logits [B, N, K+1] and mask logits
    [B, N, H/4, W/4] of the semantic task."""

    def __init__(self, model: nn.Module) -> None:
        super().__init__()
        self.model = model

    def forward(self, images: Tensor) -> Tuple[Tensor, Tensor]:
        cls_preds, mask_preds, _ = self.model.decode_head(
            self.model.extract_feat(images), all_predictions=False)
        return cls_preds[-1], mask_preds[-1]


class Mask2FormerGraph(nn.Module):
    """mmdet's ``Mask2Former`` (the baselines), from images [B, 3, H, W] to
    its final class logits [B, N, K+1] and mask logits [B, N, H/4, W/4]; the
    tasks are those its fusion head's ``test_cfg`` turns on."""

    def __init__(self, model: Mask2Former) -> None:
        super().__init__()
        self.model = model

    def forward(self, images: Tensor) -> Tuple[Tensor, Tensor]:
        # mmdet's head reads nothing from the data samples in its forward
        cls_preds, mask_preds = self.model.panoptic_head(
            self.model.extract_feat(images), [])
        return cls_preds[-1], mask_preds[-1]


def export_graph(model: nn.Module) -> Tuple[nn.Module, Sequence[str]]:
    """The exportable graph of a built model and its input names."""
    if isinstance(model, OneFormer):
        return OneFormerGraph(model).eval(), INPUT_NAMES
    if isinstance(model, Mask2Former):
        return Mask2FormerGraph(model).eval(), INPUT_NAMES[:1]
    if hasattr(model, 'decode_head') and hasattr(model.decode_head,
                                                 'semantic_scores'):
        return SegmentorGraph(model).eval(), INPUT_NAMES[:1]
    raise TypeError(f'{type(model).__name__} is neither an mmdet OneFormer '
                    'or Mask2Former nor an mmseg segmentor with '
                    'OneFormerSegHead')


def export_onnx(model: nn.Module,
                out: str,
                shape: Tuple[int, int],
                dynamic: bool = False,
                num_tasks: int = 3,
                batch_size: int = 1,
                opset: int = OPSET,
                dataset_meta: Optional[dict] = None,
                verbose: bool = False) -> dict:
    """Export ``model`` (in eval mode, on the CPU) to ``out``.

    Args:
        shape (tuple[int, int]): Input H, W (multiples of 32, the configs'
            pad divisor). With ``dynamic`` it is the example size and H, W
            (multiples of 32) are free.
        dynamic (bool): Free image size. The number of tasks per image T
            (1 to 3) is free either way; the batch size is ``batch_size``.
        num_tasks (int): T of the example input (2 or 3: an example of 1
            would fix T to 1).
        dataset_meta (dict, optional): Classes, thing/stuff split and
            palette, stored in the file's metadata for ``OnnxOneFormer``.

    Returns:
        dict: ``seconds`` (export time) and ``megabytes`` (the file and the
        external weights file ``<out>.data`` the exporter writes for larger
        models).
    """
    height, width = shape
    if height % 32 or width % 32:
        raise ValueError(f'--shape {height} {width}: both must be multiples '
                         'of 32 (the pad divisor of the configs)')
    graph, names = export_graph(model.eval().cpu())
    if dynamic and isinstance(graph, Mask2FormerGraph):
        raise ValueError(
            "--dynamic: mmdet's Mask2Former exports at a fixed --shape only "
            '(its pixel decoder reads the level sizes back from a shape '
            'tensor, which becomes a constant of the example size)')
    images = torch.randn(batch_size, 3, height, width)
    args = (images, torch.arange(num_tasks).repeat(batch_size, 1) % 3)
    tasks = torch.export.Dim('tasks', min=1, max=3)
    spatial = {}
    if dynamic:
        # H = 32 * h, W = 32 * w: every stride divides them
        spatial = {2: 32 * torch.export.Dim('h32', min=1, max=128),
                   3: 32 * torch.export.Dim('w32', min=1, max=128)}
    dynamic_shapes = [spatial, {1: tasks}][:len(names)]
    start = time.perf_counter()
    with torch.no_grad():
        torch.onnx.export(
            graph, args[:len(names)], out,
            dynamo=True,
            input_names=list(names),
            output_names=list(OUTPUT_NAMES),
            dynamic_shapes=dynamic_shapes,
            opset_version=opset,
            verbose=verbose,
            report=False)
    if dataset_meta:
        import onnx
        # the weights may lie in an external file: leave it as it is
        proto = onnx.load(out, load_external_data=False)
        proto.metadata_props.add(key=META_KEY,
                                 value=json.dumps(dataset_meta))
        onnx.save(proto, out)
    files = [out] + [out + '.data'] * os.path.exists(out + '.data')
    return dict(seconds=time.perf_counter() - start,
                megabytes=sum(map(os.path.getsize, files)) / 2**20)


def load_session(path: str, threads: Optional[int] = None):
    """An onnxruntime CPU session of ``path``."""
    import onnxruntime as ort
    options = ort.SessionOptions()
    if threads:
        options.intra_op_num_threads = threads
        options.inter_op_num_threads = 1
    return ort.InferenceSession(path, options,
                                providers=['CPUExecutionProvider'])
