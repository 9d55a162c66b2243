"""The pinned OpenMMLab stack itself works here (no code of ours under test)."""
import importlib

import torch


def test_imports_and_compiled_ops():
    for name in ('projects.oneformer', 'mmdet', 'mmseg', 'mmcv.ops', 'open_clip'):
        importlib.import_module(name)
    import mmcv
    from mmcv.ops import MultiScaleDeformableAttention, nms
    assert mmcv.__version__ == '2.1.0'
    # nms runs the compiled extension (mmcv._ext); mmcv-lite would fail here.
    boxes = torch.tensor([[0., 0., 10., 10.], [1., 1., 10., 10.], [20., 20., 30., 30.]])
    _, keep = nms(boxes, torch.tensor([0.9, 0.8, 0.7]), iou_threshold=0.5)
    assert keep.tolist() == [0, 2]
    assert MultiScaleDeformableAttention is not None


def test_mmdet_mask2former_r50_panoptic_trains_and_predicts():
    """mmdet's own Mask2Former R50 COCO-panoptic config: one step and one prediction."""
    from mmengine.hub import get_config
    from mmengine.registry import init_default_scope
    from mmdet.registry import MODELS
    from mmdet.testing import demo_mm_inputs

    init_default_scope('mmdet')
    cfg = get_config('mmdet::mask2former/mask2former_r50_8xb2-lsj-50e_coco-panoptic.py')
    cfg.model.backbone.init_cfg = None  # offline: no torchvision download
    cfg.model.data_preprocessor.batch_augments = None
    cfg.model.train_cfg.num_points = 256
    model = MODELS.build(cfg.model)
    num_classes = cfg.num_things_classes + cfg.num_stuff_classes

    packed = demo_mm_inputs(2, [(3, 64, 64), (3, 64, 48)], num_items=[3, 2],
                            num_classes=num_classes, with_mask=True, with_semantic=True)
    data = model.data_preprocessor(packed, True)
    optimizer = torch.optim.AdamW(model.parameters(), lr=1e-4)
    losses = model(**data, mode='loss')
    loss, _ = model.parse_losses(losses)
    assert torch.isfinite(loss) and loss.item() > 0
    assert {'loss_cls', 'loss_mask', 'loss_dice', 'd8.loss_cls'} <= set(losses)
    loss.backward()
    optimizer.step()

    model.eval()
    with torch.no_grad():
        results = model(**model.data_preprocessor(packed, False), mode='predict')
    assert results[0].pred_panoptic_seg.sem_seg.shape[-2:] == (64, 64)
    # random weights: low-score instances may be filtered, but the masks are image-sized
    assert results[1].pred_instances.masks.shape[-2:] == (64, 48)
