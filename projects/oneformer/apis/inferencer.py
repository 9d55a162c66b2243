"""mmdet's ``DetInferencer`` for OneFormer's three tasks."""
import logging
import os.path as osp
import warnings
from typing import Dict, List, Optional, Sequence, Tuple, Union

import mmcv
import mmengine
import numpy as np
from mmengine.config import Config
from mmengine.dataset import Compose
from mmengine.logging import print_log

from mmdet.apis import DetInferencer
from mmdet.evaluation.functional import INSTANCE_OFFSET
from mmdet.registry import DATASETS
from mmdet.structures import DetDataSample
from ..tasks import TASKS, check_tasks
from ..visualization import task_pictures, write_pictures
from .inference import image_test_pipeline

#: the repository root: its model-index.yml names the configs
ROOT = osp.dirname(osp.dirname(osp.dirname(osp.dirname(osp.abspath(__file__)))))


def _as_tasks(tasks: Union[str, Sequence[str]]) -> List[str]:
    tasks = [tasks] if isinstance(tasks, str) else list(tasks)
    if not tasks:
        raise ValueError('tasks is empty; pass one or more of '
                         f"{', '.join(repr(t) for t in TASKS)}")
    check_tasks(tasks)
    return tasks


class OneFormerInferencer(DetInferencer):
    """``DetInferencer`` that runs the requested OneFormer tasks on every
    image in one pass (backbone and pixel decoder once) and keeps them apart.

    * Predictions (``out_dir/preds/<image>.json``, saved unless
      ``no_save_pred=True``): mmdet's instance fields (labels, scores, boxes,
      RLE masks) and panoptic PNG (``<image>_panoptic_seg.png``, COCO-panoptic
      RGB ids) plus ``panoptic_segments`` (id, label, class, isthing, area of
      every segment) and ``semantic_seg_path``, a PNG of the label map
      (``<image>_semantic_seg.png``, 8 or 16 bit).
    * Pictures (``out_dir/vis/``): one per task (``<image>_<task>.jpg``, each
      showing only its task, as ``tools/demo.py``) and, for several tasks,
      ``<image>_grid.jpg`` (image | task panels).
    * A progress bar over the images (mmdet's, ``show_progress``), a folder
      of images as input, and ``model`` as a name or alias of the project's
      ``model-index.yml`` (then ``weights`` is the converted checkpoint).

    Args:
        tasks (str | Sequence[str]): tasks to predict. Defaults to all three.
        **kwargs: ``DetInferencer`` arguments (``model``, ``weights``,
            ``device``, ``palette``, ``show_progress``).
    """

    forward_kwargs = DetInferencer.forward_kwargs | {'tasks'}

    def __init__(self, model: Union[str, Config, None] = None,
                 weights: Optional[str] = None,
                 tasks: Union[str, Sequence[str]] = TASKS,
                 **kwargs) -> None:
        self.tasks = _as_tasks(tasks)
        super().__init__(model=model, weights=weights, **kwargs)

    def _load_model_from_metafile(self, model: str) -> Tuple[Config, Optional[str]]:
        """Config (and weights, if the index has any) of a model name or
        alias of the project's model index."""
        wanted = model.lower()
        for entry in self._get_models_from_metafile(ROOT):
            names = [entry['Name']] + list(entry.get('Alias', []))
            if wanted in (name.lower() for name in names):
                return (Config.fromfile(osp.join(ROOT, entry['Config'])),
                        entry.get('Weights'))
        raise ValueError(f'{model!r} is neither a config file nor a model name '
                         f"or alias of {osp.join(ROOT, 'model-index.yml')}")

    def _load_weights_to_model(self, model, checkpoint: Optional[dict],
                               cfg: Config) -> None:
        """mmdet's loading, except that a checkpoint without ``dataset_meta``
        takes the classes of the config's test dataset, not COCO's."""
        meta = (checkpoint or {}).get('meta', {})
        if checkpoint is None or 'dataset_meta' in meta or 'CLASSES' in meta:
            return super()._load_weights_to_model(model, checkpoint, cfg)
        with warnings.catch_warnings():
            warnings.filterwarnings('ignore', 'dataset_meta or class names')
            super()._load_weights_to_model(model, checkpoint, cfg)
        dataset = cfg.test_dataloader.dataset
        while 'dataset' in dataset:
            dataset = dataset.dataset
        model.dataset_meta = dict(DATASETS.get(dataset.type).METAINFO,
                                  **dataset.get('metainfo', {}))
        print_log('The checkpoint has no dataset_meta: the classes are those '
                  "of the config's test dataset.", logger='current',
                  level=logging.WARNING)

    def _init_pipeline(self, cfg: Config) -> Compose:
        """The test pipeline without its ground-truth loaders, reading what
        the inferencer hands it (paths or arrays)."""
        return image_test_pipeline(cfg, loader='mmdet.InferencerLoader')

    def forward(self, inputs: Union[dict, tuple],
                tasks: Union[str, Sequence[str], None] = None, **kwargs):
        """Predict ``tasks`` (default: the inferencer's) on one batch."""
        test_cfg = self.model.test_cfg
        previous = test_cfg.get('tasks')
        test_cfg['tasks'] = self.tasks if tasks is None else _as_tasks(tasks)
        try:
            return super().forward(inputs, **kwargs)
        finally:
            test_cfg['tasks'] = previous

    def __call__(self, inputs, *args, no_save_pred: bool = False, **kwargs) -> dict:
        """``DetInferencer.__call__``; predictions are saved to ``out_dir``
        unless ``no_save_pred=True``."""
        return super().__call__(inputs, *args, no_save_pred=no_save_pred,
                                **kwargs)


    def visualize(self, inputs: list, preds: List[DetDataSample],
                  return_vis: bool = False, show: bool = False,
                  wait_time: int = 0, draw_pred: bool = True,
                  pred_score_thr: float = 0.3, no_save_vis: bool = False,
                  img_out_dir: str = '', **kwargs) -> Optional[List[np.ndarray]]:
        """One picture per task and, for several, their grid; returns the
        grids (or the single pictures) when ``return_vis``."""
        if no_save_vis:
            img_out_dir = ''
        if not (show or img_out_dir or return_vis) or not draw_pred:
            return None
        results = []
        for single_input, pred in zip(inputs, preds):
            # names as mmdet's: the file's stem, else the count of pictures
            if isinstance(single_input, str):
                image = mmcv.imread(single_input, channel_order='rgb')
                stem = osp.splitext(osp.basename(single_input))[0]
            else:  # an array from the caller: BGR, as mmdet's inferencer takes
                image = mmcv.bgr2rgb(single_input)
                stem = str(self.num_visualized_imgs)
            self.num_visualized_imgs += 1
            pictures, _ = task_pictures(self.visualizer, image, pred, TASKS,
                                        pred_score_thr)
            if img_out_dir:
                write_pictures(pictures, osp.join(img_out_dir, 'vis'), stem)
            if show:
                for name, picture in pictures.items():
                    self.visualizer.show(picture, win_name=f'{stem}_{name}',
                                         wait_time=wait_time)
            results.append(
                pictures.get('grid', next(iter(pictures.values()), image)))
        return results

    def pred2dict(self, data_sample: DetDataSample,
                  pred_out_dir: str = '') -> Dict:
        """mmdet's instance and panoptic fields, the panoptic segments and the
        semantic label map; written to ``pred_out_dir/preds/`` if given."""
        # mmdet's names: the image's stem, else the count of predictions
        stem = (osp.splitext(osp.basename(data_sample.img_path))[0]
                if 'img_path' in data_sample else str(self.num_predicted_imgs))
        classes = self.model.dataset_meta['classes']
        num_things = len(self.model.dataset_meta.get('thing_classes', classes))
        segments = None
        if 'pred_panoptic_seg' in data_sample:  # before mmdet voids it in place
            pan = data_sample.pred_panoptic_seg.sem_seg.cpu().numpy()[0]
            ids, areas = np.unique(pan, return_counts=True)
            segments = [
                dict(id=int(i), label=int(i % INSTANCE_OFFSET),
                     class_name=classes[i % INSTANCE_OFFSET],
                     isthing=bool(i % INSTANCE_OFFSET < num_things), area=int(a))
                for i, a in zip(ids, areas) if i % INSTANCE_OFFSET < len(classes)]
        result = super().pred2dict(data_sample, pred_out_dir)
        if segments is not None:
            result['panoptic_segments'] = segments
        if 'pred_sem_seg' in data_sample:
            labels = data_sample.pred_sem_seg.sem_seg.cpu().numpy()[0]
            labels = labels.astype(np.uint8 if len(classes) < 256 else np.uint16)
            if pred_out_dir:
                path = osp.join(pred_out_dir, 'preds', f'{stem}_semantic_seg.png')
                mmcv.imwrite(labels, path)
                result['semantic_seg_path'] = path
            else:
                result['semantic_seg'] = labels
        if pred_out_dir:  # mmdet's file, with the fields added here
            mmengine.dump(result, osp.join(pred_out_dir, 'preds', f'{stem}.json'))
        return result
