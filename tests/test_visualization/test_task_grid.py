"""Task panels and the picture grid."""
import numpy as np
import torch
from mmengine.structures import InstanceData, PixelData

from mmdet.structures import DetDataSample
from mmdet.visualization import DetLocalVisualizer
from projects.oneformer.visualization import draw_task_panels, make_grid

META = dict(classes=('circle', 'sky'), thing_classes=('circle', ),
            stuff_classes=('sky', ), palette=[(220, 40, 40), (150, 200, 250)])


def _sample(empty_panoptic=False):
    sample = DetDataSample(metainfo=dict(img_shape=(32, 32), ori_shape=(32, 32)))
    pan = torch.full((1, 32, 32), 2)  # 2 = num_classes = void
    if not empty_panoptic:
        pan[0, :16] = 1  # sky (stuff)
        pan[0, 20:28, 4:12] = 0 + 1000  # circle instance 1 (label + id * 1000)
    sample.pred_panoptic_seg = PixelData(sem_seg=pan)
    masks = torch.zeros(1, 32, 32, dtype=torch.bool)
    masks[0, 20:28, 4:12] = True
    sample.pred_instances = InstanceData(masks=masks, labels=torch.tensor([0]),
                                         scores=torch.tensor([0.9]),
                                         bboxes=torch.tensor([[4., 20., 12., 28.]]))
    sample.pred_sem_seg = PixelData(sem_seg=(torch.arange(32)[None, :, None] < 16)
                                    .long().expand(1, 32, 32))
    return sample


def test_one_panel_per_task_and_grid(tmp_path):
    vis = DetLocalVisualizer(name='grid-test', save_dir=str(tmp_path))
    vis.dataset_meta = META
    image = np.full((32, 32, 3), 100, np.uint8)
    panels = draw_task_panels(vis, image, _sample(), ['panoptic', 'instance', 'semantic'])
    assert [(task, title) for task, title, _ in panels] == [
        ('panoptic', 'panoptic'), ('instance', 'instance'), ('semantic', 'semantic')]
    for _, _, picture in panels:
        assert picture.shape == (32, 32, 3) and not np.array_equal(picture, image)
    grid = make_grid([[('image', image)] + [p[1:] for p in panels]] * 2, height=64)
    assert grid.shape[0] == 2 * (64 + 28 + 4) and grid.shape[2] == 3
    assert grid.shape[1] == 4 * 64 + 3 * 4


def test_empty_panoptic_prediction_shows_the_image(tmp_path):
    vis = DetLocalVisualizer(name='grid-test-empty', save_dir=str(tmp_path))
    vis.dataset_meta = META
    image = np.full((32, 32, 3), 100, np.uint8)
    panels = draw_task_panels(vis, image, _sample(empty_panoptic=True), ['panoptic'])
    assert panels[0][1] == 'panoptic (no segment)'
    np.testing.assert_array_equal(panels[0][2], image)
