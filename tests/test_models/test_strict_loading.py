"""Loading refuses a checkpoint that lacks tensors of the model, naming them; the
training-only modules and the fine-tuning switch (``allow_missing_keys``) excepted.
Also the one-line errors of ``num_texts``, ``test_cfg.tasks`` and ``predict_tasks``."""
import numpy as np
import pytest
import torch
from mmdet.apis import init_detector
from mmdet.registry import MODELS
from mmdet.structures import DetDataSample
from mmengine.config import Config
from mmengine.runner import load_checkpoint

from projects.oneformer.apis import predict_tasks
from tests.test_models.tiny_oneformer import (NUM_QUERIES, TEXT_CTX,
                                              build_tiny_model, tiny_model_cfg)
from tests.utils import REPO


@pytest.fixture(scope='module')
def trained_state():
    return build_tiny_model(text_mapper=True).state_dict()


def _save(tmp_path, state, drop=()):
    path = str(tmp_path / 'ckpt.pth')
    torch.save({'state_dict': {k: v for k, v in state.items()
                               if not k.startswith(tuple(drop))}}, path)
    return path


@pytest.mark.parametrize('drop', ['panoptic_head.cls_embed.', 'backbone.conv1.',
                                  'panoptic_head.query_embed.'])
def test_missing_tensors_are_refused_with_their_keys(tmp_path, trained_state, drop):
    path = _save(tmp_path, trained_state, [drop])
    with pytest.raises(ValueError, match=r'lacks \d+ tensor\(s\) of the OneFormer '
                       rf'model: {drop}'.replace('.', r'\.')):
        load_checkpoint(build_tiny_model(), path, map_location='cpu')


def test_init_detector_refuses_a_checkpoint_without_classifier(tmp_path,
                                                               trained_state):
    path = _save(tmp_path, trained_state, ['panoptic_head.cls_embed.'])
    cfg = Config(dict(model=tiny_model_cfg(), default_scope='mmdet'))
    with pytest.raises(ValueError, match=r'panoptic_head\.cls_embed\.weight, '
                       r'panoptic_head\.cls_embed\.bias'):
        init_detector(cfg, path, device='cpu')


def test_training_only_modules_and_fine_tuning_switch(tmp_path, trained_state):
    # an inference checkpoint (no text mapper, no contrastive temperature) loads
    # into a training model
    path = _save(tmp_path, trained_state,
                 ['panoptic_head.text_mapper.',
                  'panoptic_head.loss_contrastive.'])
    load_checkpoint(build_tiny_model(text_mapper=True), path, map_location='cpu')
    # fine-tuning a new class set: the classifier is deliberately left out
    path = _save(tmp_path, trained_state, ['panoptic_head.cls_embed.'])
    cfg = tiny_model_cfg(num_things=4)
    cfg.allow_missing_keys = ['panoptic_head.cls_embed.']
    model = MODELS.build(cfg)
    load_checkpoint(model, path, map_location='cpu')
    assert model.panoptic_head.cls_embed.weight.shape[0] == 4 + 2 + 1


def test_unexpected_keys_stay_a_warning(tmp_path, trained_state):
    state = dict(trained_state, **{'panoptic_head.extra.weight': torch.zeros(1)})
    load_checkpoint(build_tiny_model(), _save(tmp_path, state), map_location='cpu')


def test_num_texts_that_do_not_fill_the_queries_name_the_option():
    model = build_tiny_model(text_mapper=True).train()
    sample = DetDataSample(metainfo=dict(task='panoptic', img_shape=(32, 32),
                                         pad_shape=(32, 32)))
    sample.text_tokens = torch.zeros(NUM_QUERIES - TEXT_CTX - 1, 77,
                                     dtype=torch.long)
    with pytest.raises(ValueError, match=r'7 texts .*num_queries - num_context = '
                       rf'{NUM_QUERIES} - {TEXT_CTX} = 8: set train_dataloader\.'
                       r'dataset\.num_texts=8'):
        model.loss(torch.zeros(1, 3, 32, 32), [sample])


def test_empty_test_cfg_tasks_is_an_error():
    model = build_tiny_model()
    model.test_cfg['tasks'] = []
    sample = DetDataSample(metainfo=dict(img_shape=(32, 32), ori_shape=(32, 32),
                                         scale_factor=(1.0, 1.0)))
    with pytest.raises(ValueError, match=r'test_cfg\.tasks is \[\]'):
        with torch.no_grad():
            model.predict(torch.zeros(1, 3, 32, 32), [sample])


@pytest.fixture(scope='module')
def toy_model():
    cfg = Config.fromfile(f'{REPO}/configs/oneformer_r18_toy.py')
    return init_detector(cfg, None, device='cpu')


def test_predict_tasks_arguments(toy_model):
    image = np.zeros((32, 32, 3), np.uint8)
    with pytest.raises(ValueError, match='images is an empty list'):
        predict_tasks(toy_model, [], ['panoptic'])
    with pytest.raises(ValueError, match='tasks is empty'):
        predict_tasks(toy_model, image, [])
    # one task name is one task, not its letters
    result = predict_tasks(toy_model, image, 'semantic')
    assert 'pred_sem_seg' in result and 'pred_panoptic_seg' not in result


def test_fine_tuning_switch_leaves_out_a_classifier_of_another_class_count(
        tmp_path, trained_state):
    path = _save(tmp_path, trained_state)  # 3 things + 2 stuff
    cfg = tiny_model_cfg(num_things=4)
    with pytest.raises(ValueError, match=r'Checkpoint has 5 classes .* the model '
                       r'has 6 classes .*tools/train\.py --finetune'):
        load_checkpoint(MODELS.build(cfg), path, map_location='cpu')
    cfg.allow_missing_keys = ['panoptic_head.cls_embed.']
    model = MODELS.build(cfg)
    before = model.panoptic_head.cls_embed.weight.clone()
    load_checkpoint(model, path, map_location='cpu')
    assert torch.equal(model.panoptic_head.cls_embed.weight, before)  # trained anew
    assert torch.equal(model.panoptic_head.mask_embed[0].weight,
                       trained_state['panoptic_head.mask_embed.0.weight'])


def test_enable_finetune_sets_the_classifier_prefix():
    from projects.oneformer.models.strict_loading import enable_finetune
    cfg = Config(dict(model=dict(type='OneFormer'), load_from='a.pth'))
    enable_finetune(cfg)
    assert cfg.model.allow_missing_keys == ['panoptic_head.cls_embed.']
    seg = Config(dict(model=dict(type='EncoderDecoder',
                                 decode_head=dict(type='OneFormerSegHead')),
                      load_from='a.pth'))
    enable_finetune(seg)
    assert seg.model.decode_head.allow_missing_keys == ['cls_embed.']
    with pytest.raises(ValueError, match='needs load_from'):
        enable_finetune(Config(dict(model=dict(type='OneFormer'))))
    with pytest.raises(ValueError, match="model type 'Mask2Former' has no "
                       'allow_missing_keys'):
        enable_finetune(Config(dict(model=dict(type='Mask2Former'), load_from='a')))
