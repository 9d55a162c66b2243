import re
import warnings

import pytest
import torch
from mmengine.runner import load_checkpoint
from tests.test_models.tiny_oneformer import NUM_CLASSES, NUM_QUERIES, build_tiny_model

from mmdet.structures import DetDataSample


@pytest.fixture(scope='module')
def model():
    # fixed weights, whatever ran before: the path comparisons hold up to
    # rounding, which a draw with a mask logit at the attention threshold breaks
    torch.manual_seed(0)
    return build_tiny_model()


def batch(tasks=None, num_imgs=2):
    """Two 50x70 images (resized from 100x140), packed as by mmdet."""
    torch.manual_seed(0)
    inputs = [
        torch.randint(0, 256, (3, 50, 70), dtype=torch.uint8)
        for _ in range(num_imgs)
    ]
    samples = []
    for i in range(num_imgs):
        meta = dict(
            img_shape=(50, 70), ori_shape=(100, 140), scale_factor=(0.5, 0.5))
        if tasks is not None:
            meta['task'] = tasks[i]
        samples.append(DetDataSample(metainfo=meta))
    return dict(inputs=inputs, data_samples=samples)


def run(model, sample_tasks=None, **test_cfg):
    old = dict(model.test_cfg)
    model.test_cfg.update(test_cfg)
    try:
        with torch.no_grad():
            return model.test_step(batch(sample_tasks))
    finally:
        model.test_cfg.clear()
        model.test_cfg.update(old)


def test_task_from_metainfo(model):
    pan, sem = run(model, sample_tasks=['panoptic', 'semantic'])
    assert pan.pred_panoptic_seg.sem_seg.shape == (1, 100, 140)
    assert 'pred_sem_seg' not in pan and 'pred_instances' not in pan
    assert sem.pred_sem_seg.sem_seg.shape == (1, 100, 140)
    assert 'pred_panoptic_seg' not in sem
    assert sem.pred_sem_seg.sem_seg.max() < NUM_CLASSES


def test_task_from_test_cfg(model):
    results = run(model, task='instance')
    for result in results:
        ins = result.pred_instances
        assert ins.masks.shape[1:] == (100, 140)
        # top-k over Q x K with k = N, things only
        assert len(ins) <= NUM_QUERIES
        assert (ins.labels < 3).all()
    assert model.test_cfg.max_per_image == NUM_QUERIES


def test_missing_task_is_an_error(model):
    with pytest.raises(ValueError, match="metainfo 'task'"):
        run(model, task=None)


def test_all_tasks_in_one_call(model):
    tasks = ['panoptic', 'instance', 'semantic']
    multi = run(model, tasks=tasks)
    for task, field in zip(
            tasks, ('pred_panoptic_seg', 'pred_instances', 'pred_sem_seg')):
        single = run(model, task=task)
        for m, s in zip(multi, single):
            if field == 'pred_instances':
                order_m = m.pred_instances.scores.argsort()
                order_s = s.pred_instances.scores.argsort()
                torch.testing.assert_close(m.pred_instances.scores[order_m],
                                           s.pred_instances.scores[order_s])
                assert m.pred_instances.labels[order_m].equal(
                    s.pred_instances.labels[order_s])
            else:
                assert m.get(field).sem_seg.equal(s.get(field).sem_seg)


def test_duplicate_tasks_rejected(model):
    with pytest.raises(ValueError, match='duplicates'):
        run(model, tasks=['semantic', 'semantic'])


def test_text_mapper_only_when_configured(model):
    assert model.panoptic_head.text_mapper is None
    assert not any(k.startswith('panoptic_head.text_mapper.')
                   for k in model.state_dict())
    trainable = build_tiny_model(text_mapper=True)
    assert any(
        k.startswith('panoptic_head.text_mapper.text_encoder.')
        for k in trainable.state_dict())


def _load_quietly(model, path, capsys):
    with warnings.catch_warnings():
        warnings.simplefilter('error')
        load_checkpoint(model, path, map_location='cpu', strict=True)
    out = capsys.readouterr()
    assert not re.search('missing|unexpected|mismatch', out.out + out.err,
                         re.I)


def test_checkpoint_with_or_without_text_mapper_loads_quietly(
        tmp_path, capsys):
    trainable = build_tiny_model(text_mapper=True)
    inference = build_tiny_model()
    full = trainable.state_dict()
    path = tmp_path / 'with_text.pth'
    torch.save({'state_dict': full}, path)
    _load_quietly(inference, str(path), capsys)
    for key, value in inference.state_dict().items():
        assert value.equal(full[key])

    stripped = {k: v for k, v in full.items() if 'text_mapper' not in k}
    path = tmp_path / 'without_text.pth'
    torch.save({'state_dict': stripped}, path)
    _load_quietly(build_tiny_model(), str(path), capsys)


def test_class_count_mismatch_names_both_counts(tmp_path):
    path = tmp_path / 'ckpt.pth'
    torch.save({'state_dict': build_tiny_model().state_dict()}, path)
    other = build_tiny_model(num_things=4)
    with pytest.raises(ValueError) as err:
        load_checkpoint(other, str(path), map_location='cpu')
    message = str(err.value)
    assert 'Checkpoint has 5 classes' in message
    assert 'model has 6 classes' in message


def test_bf16_autocast_keeps_result_types():
    """mmengine's ``TestLoop(fp16=True)`` on a CPU runs the model under bf16
    autocast: the decoder computes in bf16, the pixel decoder stays fp32 (as
    released), and the three tasks' results keep the fp32 run's dtypes and
    shapes, so mmdet's metrics can turn them into numpy arrays."""
    from mmengine.runner.amp import autocast
    torch.manual_seed(1)  # weights whose instance rule keeps some masks
    model = build_tiny_model()
    model.test_cfg.tasks = ['panoptic', 'instance', 'semantic']
    dtypes = {}

    def record(name):
        def hook(module, args, output):
            dtypes[name] = (output[0] if isinstance(output, tuple)
                            else output).dtype
        return hook

    head = model.panoptic_head
    head.pixel_decoder.register_forward_hook(record('pixel_decoder'))
    head.cls_embed.register_forward_hook(record('cls_embed'))
    with torch.no_grad():
        plain = model.test_step(batch())
        with autocast(device_type='cpu', enabled=True):
            mixed = model.test_step(batch())
    assert dtypes == dict(pixel_decoder=torch.float32,
                          cls_embed=torch.bfloat16)
    for p, m in zip(plain, mixed):
        assert len(m.pred_instances) > 0
        for key, value in p.pred_instances.items():
            assert m.pred_instances.get(key).dtype == value.dtype, key
            m.pred_instances.get(key).numpy()
        for field in ('pred_panoptic_seg', 'pred_sem_seg'):
            assert m.get(field).sem_seg.dtype == p.get(field).sem_seg.dtype
            assert m.get(field).sem_seg.shape == p.get(field).sem_seg.shape
