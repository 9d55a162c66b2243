import pytest
import torch
from torch import nn

from projects.oneformer.models import OneFormerQueryInitialiser

DIMS = 32


@pytest.fixture
def initialiser():
    layer = dict(
        self_attn_cfg=dict(embed_dims=DIMS, num_heads=4),
        cross_attn_cfg=dict(embed_dims=DIMS, num_heads=4),
        ffn_cfg=dict(embed_dims=DIMS, feedforward_channels=64))
    module = OneFormerQueryInitialiser(
        in_channels=16,
        decoder=dict(num_layers=2, layer_cfg=layer),
        positional_encoding=dict(num_feats=DIMS // 2, normalize=True))
    module.init_weights()
    return module.eval()


def test_task_token_is_last_query(initialiser):
    task = torch.randn(2, DIMS)
    queries = initialiser(task, torch.randn(2, 16, 8, 12),
                          torch.randn(6, DIMS))
    assert queries.shape == (2, 7, DIMS)
    assert queries[:, -1].equal(task)
    assert len(initialiser.decoder.layers) == 2
    assert isinstance(initialiser.decoder.post_norm, nn.LayerNorm)


def test_values_are_positions_and_keys_add_projected_features(initialiser):
    """The released quirk: image content only enters through the keys."""
    task, pos = torch.randn(1, DIMS), torch.randn(5, DIMS)
    feats_a, feats_b = torch.randn(2, 1, 16, 8, 12)
    with torch.no_grad():
        differ = initialiser(task, feats_a, pos) - initialiser(
            task, feats_b, pos)
        assert differ.abs().max() > 1e-4
        # without the key projection, keys and values are the sine encoding
        # only, so the output must not depend on the feature values
        initialiser.class_input_proj.weight.zero_()
        initialiser.class_input_proj.bias.zero_()
        same = initialiser(task, feats_a, pos) - initialiser(
            task, feats_b, pos)
    assert same.abs().max() < 1e-6
