"""Pictures of one model's three outputs: a panel per task, a grid of images x tasks."""
import os.path as osp
from typing import Dict, List, Sequence, Tuple

import cv2
import mmcv
import numpy as np
from mmdet.structures import DetDataSample
from mmdet.visualization import DetLocalVisualizer

from ..tasks import TASK_SPECS


def draw_task_panels(visualizer: DetLocalVisualizer, image: np.ndarray,
                     data_sample: DetDataSample, tasks: Sequence[str],
                     score_thr: float = 0.3) -> List[Tuple[str, str, np.ndarray]]:
    """One picture per task with mmdet's visualizer, each showing only that task's
    prediction (drawn together they would cover each other).

    Args:
        image (np.ndarray): RGB image [H, W, 3] at the prediction's size.
        data_sample (DetDataSample): with the ``pred_*`` fields of ``tasks``.

    Returns:
        list[tuple]: (task, title, RGB picture [H, W, 3]) per task predicted.
    """
    panels = []
    num_classes = len(visualizer.dataset_meta['classes'])
    for task in tasks:
        field = TASK_SPECS[task].pred_field
        if field not in data_sample:
            continue
        if task == 'panoptic' and not (
                data_sample.pred_panoptic_seg.sem_seg != num_classes).any():
            # all void: mmdet's visualizer cannot draw an empty panoptic map
            panels.append((task, 'panoptic (no segment)', image.copy()))
            continue
        single = DetDataSample(metainfo=data_sample.metainfo)
        setattr(single, field, getattr(data_sample, field))
        visualizer.add_datasample(task, image, single, draw_gt=False, show=False,
                                  pred_score_thr=score_thr)
        panels.append((task, task, visualizer.get_image()))
    return panels


def _titled(title: str, image: np.ndarray, height: int) -> np.ndarray:
    scale = height / image.shape[0]
    image = cv2.resize(image, (round(image.shape[1] * scale), height),
                       interpolation=cv2.INTER_NEAREST)
    strip = np.full((28, image.shape[1], 3), 255, np.uint8)
    cv2.putText(strip, title, (4, 20), cv2.FONT_HERSHEY_SIMPLEX, 0.6, (0, 0, 0), 1,
                cv2.LINE_AA)
    return np.concatenate([strip, image], axis=0)


def make_grid(rows: Sequence[Sequence[Tuple[str, np.ndarray]]],
              height: int = 256, gap: int = 4) -> np.ndarray:
    """Stack titled pictures: one row per image, one column per (title, picture)."""
    lines = []
    for row in rows:
        cells = [_titled(title, img, height) for title, img in row]
        spaced = []
        for cell in cells:
            spaced += [cell, np.full((cell.shape[0], gap, 3), 255, np.uint8)]
        lines.append(np.concatenate(spaced[:-1], axis=1))
    width = max(line.shape[1] for line in lines)
    padded = []
    for line in lines:
        line = np.pad(line, ((0, gap), (0, width - line.shape[1]), (0, 0)),
                      constant_values=255)
        padded.append(line)
    return np.concatenate(padded, axis=0)


def task_pictures(visualizer: DetLocalVisualizer, image: np.ndarray,
                  data_sample: DetDataSample, tasks: Sequence[str],
                  score_thr: float = 0.3
                  ) -> Tuple[Dict[str, np.ndarray], List[str]]:
    """The RGB picture of each task predicted and, for several tasks, their
    ``'grid'`` (image | task panels).

    Args:
        image (np.ndarray): RGB image [H, W, 3] at the prediction's size.

    Returns:
        tuple: pictures by name (the task, or ``'grid'``), tasks first, and
        the panels' titles.
    """
    panels = draw_task_panels(visualizer, image, data_sample, tasks, score_thr)
    pictures = {task: picture for task, _, picture in panels}
    if len(panels) > 1:
        pictures['grid'] = make_grid(
            [[('image', image)] + [p[1:] for p in panels]])
    return pictures, [title for _, title, _ in panels]


def write_pictures(pictures: Dict[str, np.ndarray], out_dir: str,
                   stem: str) -> None:
    """Write each RGB picture as ``<out_dir>/<stem>_<name>.jpg``."""
    for name, picture in pictures.items():
        mmcv.imwrite(mmcv.rgb2bgr(picture), osp.join(out_dir, f'{stem}_{name}.jpg'))


def save_task_pictures(visualizer: DetLocalVisualizer, image: np.ndarray,
                       data_sample: DetDataSample, tasks: Sequence[str],
                       out_dir: str, stem: str,
                       score_thr: float = 0.3) -> List[str]:
    """:func:`task_pictures` written to ``<out_dir>/<stem>_<task>.jpg`` and
    ``<stem>_grid.jpg``; returns the panels' titles."""
    pictures, titles = task_pictures(visualizer, image, data_sample, tasks,
                                     score_thr)
    write_pictures(pictures, out_dir, stem)
    return titles
