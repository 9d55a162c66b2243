"""The HF converter's errors name the HF keys."""
import pytest
import torch

from projects.oneformer.converters import convert_hf_state_dict
from tests.test_models.tiny_oneformer import tiny_hf_model

Q_PROJ = 'model.transformer_module.decoder.layers.0.self_attn.self_attn.q_proj.weight'


@pytest.fixture(scope='module')
def hf_state():
    return tiny_hf_model().state_dict()


def test_misshapen_q_proj_names_the_keys(hf_state):
    state = dict(hf_state, **{Q_PROJ: hf_state[Q_PROJ][:, :32]})
    with pytest.raises(ValueError, match=Q_PROJ[len('model.'):].replace('.', r'\.')
                       + r'.*must have one shape, got \{.q.: \(64, 32\)'):
        convert_hf_state_dict(state)


def test_unmapped_keys_are_reported_under_their_hf_names(hf_state):
    # mapped loosely by the HF step, refused by the detectron2 step
    extra = ['model.transformer_module.decoder.query_transformer.extra.weight',
             'model.pixel_level_module.decoder.encoder.layers.0.fc1.extra']
    state = dict(hf_state, **dict.fromkeys(extra, torch.zeros(1)))
    _, report = convert_hf_state_dict(state)
    assert sorted(report.unmapped) == sorted(extra), report.format()
