"""The text mapper against an independent implementation of the released
text encoder (CLIP-style, pre-LN, QuickGELU, causal mask, end-token pooling,
no output projection), projector and learnable context."""
import pytest
import torch
import torch.nn.functional as F

from projects.oneformer.models import TextMapper


def reference_text_queries(sd, ids, heads, causal=True):
    """Released text mapper math on a state dict in TextMapper naming."""
    batch, num_text, length = ids.shape
    tokens = ids.reshape(-1, length)
    x = F.embedding(tokens, sd['text_encoder.token_embedding.weight'])
    x = x + sd['text_encoder.positional_embedding']
    mask = None
    if causal:
        mask = torch.full((length, length), float('-inf')).triu(1)
    num_blocks = len({k.split('.')[3] for k in sd if '.resblocks.' in k})
    for i in range(num_blocks):
        p = f'text_encoder.transformer.resblocks.{i}.'
        width = x.shape[-1]
        h = F.layer_norm(x, (width, ), sd[p + 'ln_1.weight'],
                         sd[p + 'ln_1.bias'])
        q, k, v = F.linear(h, sd[p + 'attn.in_proj_weight'],
                           sd[p + 'attn.in_proj_bias']).chunk(
                               3, dim=-1)
        q, k, v = (
            t.reshape(t.shape[0], length, heads, -1).transpose(1, 2)
            for t in (q, k, v))
        logits = q @ k.transpose(-1, -2) / q.shape[-1]**0.5
        if mask is not None:
            logits = logits + mask
        h = (logits.softmax(-1) @ v).transpose(1, 2).reshape(x.shape)
        x = x + F.linear(h, sd[p + 'attn.out_proj.weight'],
                         sd[p + 'attn.out_proj.bias'])
        h = F.layer_norm(x, (width, ), sd[p + 'ln_2.weight'],
                         sd[p + 'ln_2.bias'])
        h = F.linear(h, sd[p + 'mlp.c_fc.weight'], sd[p + 'mlp.c_fc.bias'])
        h = h * torch.sigmoid(1.702 * h)
        x = x + F.linear(h, sd[p + 'mlp.c_proj.weight'],
                         sd[p + 'mlp.c_proj.bias'])
    x = F.layer_norm(x, (x.shape[-1], ), sd['text_encoder.ln_final.weight'],
                     sd['text_encoder.ln_final.bias'])
    x = x[torch.arange(x.shape[0]), tokens.argmax(-1)]
    x = F.relu(
        F.linear(x, sd['text_projector.0.weight'],
                 sd['text_projector.0.bias']))
    x = F.linear(x, sd['text_projector.2.weight'], sd['text_projector.2.bias'])
    x = x.reshape(batch, num_text, -1)
    ctx = sd['prompt_ctx.weight'].expand(batch, -1, -1)
    return torch.cat([x, ctx], 1)


@pytest.fixture
def mapper_and_ids():
    mapper = TextMapper(
        embed_dims=64,
        text_encoder=dict(width=64, heads=2, layers=2),
        num_context=4).eval()
    with torch.no_grad():
        for p in mapper.parameters():
            p.add_(torch.randn_like(p) * 0.05)
    ids = mapper.tokenize([
        ['a photo with a cat', 'a photo with a person', 'a panoptic photo'],
        ['a photo with a sky', 'a semantic photo', 'a semantic photo'],
    ])
    return mapper, ids


def test_matches_released_causal_text_encoder(mapper_and_ids):
    mapper, ids = mapper_and_ids
    assert ids.shape == (2, 3, 77)
    with torch.no_grad():
        out = mapper(ids)
        sd = mapper.state_dict()
        ref = reference_text_queries(sd, ids, heads=2)
        bidirectional = reference_text_queries(sd, ids, heads=2, causal=False)
    assert out.shape == (2, 3 + 4, 64)
    diff = (out - ref).abs().max().item()
    print(f'text mapper max abs diff vs reference: {diff:.2e}')
    assert diff < 1e-5
    # the causal mask matters, so the comparison above can fail
    assert (out - bidirectional).abs().max() > 1e-3
    # learnable context comes after the projected texts
    assert out[:, 3:].equal(mapper.prompt_ctx.weight.expand(2, -1, -1))


def test_repeated_texts_encoded_once_same_gradients(mapper_and_ids):
    mapper, ids = mapper_and_ids
    weights = torch.randn(2, 3 + 4, 64)
    (mapper(ids) * weights).sum().backward()
    ours = {n: p.grad.clone() for n, p in mapper.named_parameters()
            if p.grad is not None}
    mapper.zero_grad()
    sd = dict(mapper.named_parameters())
    (reference_text_queries(sd, ids, heads=2) * weights).sum().backward()
    for name, param in mapper.named_parameters():
        if name in ours:
            assert torch.allclose(ours[name], param.grad, rtol=1e-4,
                                  atol=1e-4), name


def test_released_layout():
    mapper = TextMapper()
    assert mapper.text_encoder.text_projection is None
    assert mapper.text_encoder.attn_mask is not None
    assert mapper.prompt_ctx.weight.shape == (16, 256)
    assert len(mapper.text_encoder.transformer.resblocks) == 6
    assert mapper.text_encoder.transformer.resblocks[0].attn.num_heads == 4
    assert 'text_encoder.attn_mask' not in mapper.state_dict()


def test_width_must_match_embed_dims():
    with pytest.raises(ValueError, match='width'):
        TextMapper(embed_dims=128, text_encoder=dict(width=64))
