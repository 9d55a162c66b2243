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


def test_inference_keys_and_values_are_the_released_ones(initialiser):
    """Inference folds the 1x1 projection into the key projections and
    splits the sine encoding by axis; against the released math written
    out here on the full h x w encoding (mmdet's ``SinePositionalEncoding``):
    keys W_k (pos + P x + b_P) + b_k, values W_v pos + b_v, and the queries
    against the training path's (no dropout here)."""
    torch.manual_seed(0)
    with torch.no_grad():
        for p in initialiser.parameters():  # biases too (they init to 0)
            p.normal_(0, 0.3)
    feats = torch.randn(2, 16, 8, 12)
    pos = initialiser.positional_encoding(
        torch.zeros(1, 8, 12, dtype=torch.bool)).flatten(2).transpose(1, 2)
    conv = initialiser.class_input_proj
    keys_in = pos + torch.einsum('oc,bcl->blo', conv.weight.flatten(1),
                                 feats.flatten(2)) + conv.bias
    with torch.no_grad():
        memories = initialiser._projected_memory(feats)
        assert len(memories) == 2
        for layer, (keys, values) in zip(initialiser.decoder.layers,
                                         memories):
            _, w_k, w_v = layer.cross_attn.attn.in_proj_weight.chunk(3)
            _, b_k, b_v = layer.cross_attn.attn.in_proj_bias.chunk(3)
            torch.testing.assert_close(keys, keys_in @ w_k.t() + b_k,
                                       rtol=0, atol=1e-5)
            torch.testing.assert_close(values, (pos @ w_v.t() + b_v).expand(
                2, -1, -1), rtol=0, atol=1e-5)
        task, query_pos = torch.randn(4, DIMS), torch.randn(6, DIMS)
        got = initialiser(task, feats, query_pos, num_tasks=2)
        expected = initialiser.train()(task, feats, query_pos, num_tasks=2)
    assert (got - expected).abs().max() < 1e-5
    assert (expected[:, :-1] - expected[:1, :-1]).abs().max() > 1e-2


def test_attention_with_dropout_is_recomputed_in_backward_exactly(
        monkeypatch):
    """Training with attention dropout and a mask (and on a GPU): the
    attention is checkpointed (its [B, heads, Q, L] tensors are not kept for
    backward) and recomputed with the same dropout draw: outputs and
    gradients equal those of the same module without checkpointing. (On CPU
    without a mask it is ``dropout_attention``: test_dropout_attention.)"""
    from projects.oneformer.models import transformer_decoder
    torch.manual_seed(0)
    module = transformer_decoder.FusedMultiheadAttention(
        embed_dims=8, num_heads=2, attn_drop=0.5, batch_first=True).train()
    # [B, L, C] inputs (640 values) smaller than [B*heads, Q, L] (800)
    inputs = [torch.randn(2, n, 8) for n in (5, 40, 40, 5, 40)]
    mask = torch.rand(2, 1, 5, 40) > 0.5
    mask[..., 0] = False  # no row blocks every key

    def step():
        x = [t.clone().requires_grad_() for t in inputs]
        saved = []
        torch.manual_seed(1)
        with torch.autograd.graph.saved_tensors_hooks(
                lambda t: saved.append(t.numel()) or t, lambda t: t):
            out = module(x[0], x[1], x[2], query_pos=x[3], key_pos=x[4],
                         attn_mask=mask)
        out.pow(2).sum().backward()
        return out, [t.grad for t in x], max(saved)

    out, grads, saved = step()
    monkeypatch.setattr(transformer_decoder, 'checkpoint',
                        lambda fn, *args, **kwargs: fn(*args))
    expected, expected_grads, plain_saved = step()
    assert out.equal(expected)
    assert all(a.equal(b) for a, b in zip(grads, expected_grads))
    # without checkpointing [B*heads, Q, L] = 2*2*5*40 probabilities are kept
    assert plain_saved >= 2 * 2 * 5 * 40 > saved
    # the dropout is live: another draw gives another output
    torch.manual_seed(2)
    assert not module(*inputs[:3], query_pos=inputs[3], key_pos=inputs[4],
                      attn_mask=mask).equal(out)


def test_fused_attention_equals_mmcvs_attention():
    """Against mmcv's ``MultiheadAttention.forward`` (nn.MultiheadAttention
    with the weights): the same output with a [B*heads, Q, L] mask, and with
    the same mask given once per image [B, 1, Q, L]."""
    from mmcv.cnn.bricks.transformer import MultiheadAttention

    from projects.oneformer.models import transformer_decoder
    torch.manual_seed(0)
    module = transformer_decoder.FusedMultiheadAttention(
        embed_dims=16, num_heads=4, batch_first=True).eval()
    query, query_pos = torch.randn(2, 6, 16), torch.randn(2, 6, 16)
    key, key_pos = torch.randn(2, 30, 16), torch.randn(2, 30, 16)
    per_image = torch.rand(2, 1, 6, 30) > 0.5
    per_image[..., 0] = False  # no row blocks every key
    per_head = per_image.expand(-1, 4, -1, -1).flatten(0, 1)
    with torch.no_grad():
        expected = MultiheadAttention.forward(
            module, query, key, key, query_pos=query_pos, key_pos=key_pos,
            attn_mask=per_head)
        for mask in (per_head, per_image):
            got = module(query, key, key, query_pos, key_pos, mask)
            torch.testing.assert_close(got, expected, rtol=0, atol=1e-6)
        unmasked = MultiheadAttention.forward(
            module, query, key, key, query_pos=query_pos, key_pos=key_pos)
    assert (unmasked - expected).abs().max() > 1e-2  # the mask is live


def test_training_projection_is_the_1x1_convolution(initialiser, monkeypatch):
    """Training projects the mask features by a batched product, not by
    ``class_input_proj``'s convolution: the queries and every gradient (the
    features' and all parameters') equal those of the convolution itself,
    under the same dropout draws."""
    torch.manual_seed(0)
    with torch.no_grad():
        for p in initialiser.parameters():  # biases too (they init to 0)
            p.normal_(0, 0.3)
    initialiser.train()
    inputs = [torch.randn(4, DIMS), torch.randn(2, 16, 8, 12),
              torch.randn(6, DIMS)]

    def step():
        initialiser.zero_grad()
        x = [t.clone().requires_grad_() for t in inputs]
        torch.manual_seed(1)
        out = initialiser(*x, num_tasks=2)
        out.pow(2).sum().backward()
        return [out] + [t.grad for t in x] + [
            p.grad for p in initialiser.parameters()]

    got = step()
    monkeypatch.setattr(
        initialiser, '_projected_features',
        lambda x: initialiser.class_input_proj(x).flatten(2).transpose(1, 2))
    expected = step()
    assert len(got) == len(expected) > 3
    for a, b in zip(got, expected):
        torch.testing.assert_close(a, b, rtol=1e-5, atol=1e-5)
    assert initialiser.class_input_proj.weight.grad.abs().max() > 1e-3
