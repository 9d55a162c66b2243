"""An exported OneFormer graph run by onnxruntime, with the PyTorch path's own
pre- and post-processing around it."""
import copy
import json
from typing import List, Optional, Sequence, Union

import numpy as np
import torch
import torch.nn.functional as F
from mmengine.config import Config
from mmengine.registry import DefaultScope
from mmengine.structures import PixelData

from mmdet.structures import DetDataSample
from ..apis.inference import image_test_pipeline
from ..tasks import TASKS, check_tasks
from .onnx_export import META_KEY, load_session


def _from_json(meta: dict) -> dict:
    """Dataset meta as mmdet holds it: names in tuples, the palette a list of
    (r, g, b) tuples (mmdet reads a tuple palette as one colour)."""
    return {
        key: [tuple(c) for c in value] if key == 'palette' else
        tuple(value) if isinstance(value, list) else value
        for key, value in meta.items()
    }


class OnnxOneFormer:
    """Predict with an ONNX file from ``tools/deployment/export_onnx.py``.

    The config's model is built (weights unused, nothing loaded) for its test
    pipeline, data preprocessor and post-processing, so the pixels that reach
    the graph and the rules applied to its logits are the PyTorch path's. A
    fixed-size graph gets its input padded (bottom / right, like the data
    preprocessor) to the exported size.

    Args:
        onnx_file (str): The exported graph.
        config (str | Config): The config it was exported from.
        threads (int, optional): onnxruntime intra-op threads.
    """

    def __init__(self, onnx_file: str, config: Union[str, Config],
                 threads: Optional[int] = None) -> None:
        self.onnx_file = onnx_file
        self.session = load_session(onnx_file, threads)
        inputs = self.session.get_inputs()
        self.input_names = [i.name for i in inputs]
        size = inputs[0].shape[2:]
        self.fixed_size = tuple(size) if all(
            isinstance(d, int) for d in size) else None
        cfg = config if isinstance(config, Config) else Config.fromfile(config)
        #: an mmseg segmentor, or an mmdet Mask2Former (no task input)
        self.segmentor = cfg.get('default_scope') == 'mmseg'
        self.mask2former = not self.segmentor and \
            'tasks' not in self.input_names
        if self.segmentor:
            from mmseg.apis import init_model
            self.model = init_model(cfg, device='cpu')
        else:
            from mmdet.apis import init_detector
            self.model = init_detector(cfg, device='cpu')
        self.model.eval()
        #: the tasks the graph can predict
        if self.segmentor:
            self.tasks = ['semantic']
        elif self.mask2former:
            self.tasks = self.model.panoptic_fusion_head.enabled_tasks
        else:
            self.tasks = list(TASKS)
        meta = self.session.get_modelmeta().custom_metadata_map.get(META_KEY)
        if meta is not None:
            self.model.dataset_meta = _from_json(json.loads(meta))

    def __call__(self, image: Union[str, np.ndarray],
                 tasks: Optional[Sequence[str]] = None) -> DetDataSample:
        """Predict ``tasks`` (default: :attr:`tasks`) for one image (a path
        or a BGR array).

        Returns:
            DetDataSample: with ``pred_panoptic_seg`` / ``pred_instances`` /
            ``pred_sem_seg`` as requested. An mmseg segmentor predicts the
            semantic task, a Mask2Former every task its config turns on
            (:attr:`tasks`).
        """
        tasks = self.tasks if tasks is None else list(tasks)
        check_tasks(tasks)
        if not set(tasks) <= set(self.tasks):
            kind = 'mmseg' if self.segmentor else 'Mask2Former'
            raise ValueError(f'{self.onnx_file} is an {kind} graph: it '
                             f'predicts tasks={self.tasks} only')
        data = self.model.data_preprocessor(self._load(image), False)
        inputs, samples = data['inputs'], data['data_samples']
        inputs = self._fit(inputs, samples, image)
        feeds = {'images': inputs.numpy()}
        if self.segmentor:
            cls, masks = map(torch.from_numpy, self.session.run(None, feeds))
            seg = self.model.postprocess_result(
                self.model.decode_head.semantic_scores(
                    cls, masks, [s.metainfo for s in samples],
                    self.model.test_cfg), samples)[0]
            return DetDataSample(
                metainfo=seg.metainfo,
                pred_sem_seg=PixelData(sem_seg=seg.pred_sem_seg.data))
        if self.mask2former:
            cls, masks = map(torch.from_numpy, self.session.run(None, feeds))
            return self.model.add_pred_to_datasample(
                samples, self.model.panoptic_fusion_head.predict(
                    cls, masks, samples, rescale=True))[0]
        feeds['tasks'] = np.array([[TASKS.index(t) for t in tasks]],
                                  dtype=np.int64)
        cls, masks = map(torch.from_numpy, self.session.run(None, feeds))
        self.model.test_cfg['tasks'] = list(tasks)
        return self.model.postprocess(cls, masks, samples)[0]

    def _load(self, image: Union[str, np.ndarray]) -> dict:
        """The config's test pipeline (without ground-truth loaders) on one
        image, batched for the data preprocessor."""
        if self.segmentor:
            from mmseg.apis.inference import _preprare_data
            cfg = self.model.cfg
            # mmseg's helper switches the config's loader to the array one
            # for an array, for good: give it a copy
            self.model.cfg = copy.deepcopy(cfg)
            try:
                with DefaultScope.overwrite_default_scope('mmseg'):
                    return _preprare_data(image, self.model)[0]
            finally:
                self.model.cfg = cfg
        pipeline = image_test_pipeline(self.model.cfg,
                                       isinstance(image, np.ndarray))
        key = 'img' if isinstance(image, np.ndarray) else 'img_path'
        data = pipeline({key: image, 'img_id': 0})
        return dict(inputs=[data['inputs']],
                    data_samples=[data['data_samples']])

    def _fit(self, inputs: torch.Tensor, samples: List, image) -> torch.Tensor:
        """Pad [1, 3, h, w] to a fixed-size graph's input size."""
        if self.fixed_size is None:
            return inputs
        height, width = self.fixed_size
        h, w = inputs.shape[-2:]
        if h > height or w > width:
            name = image if isinstance(image, str) else 'the image'
            raise ValueError(
                f'{name}: {h}x{w} after the test pipeline, larger than the '
                f'{height}x{width} that {self.onnx_file} was exported for; '
                'export with a --shape that covers it, or with --dynamic')
        inputs = F.pad(inputs, (0, width - w, 0, height - h))
        for sample in samples:
            sample.set_metainfo(dict(batch_input_shape=(height, width),
                                     pad_shape=(height, width)))
            if 'img_padding_size' in sample:
                left, right, top, bottom = sample.img_padding_size
                sample.set_metainfo(dict(img_padding_size=[
                    left, right + width - w, top, bottom + height - h]))
        return inputs
