import pytest
import torch
from mmengine.structures import InstanceData
from tests.test_models.tiny_oneformer import (DIMS, NUM_CLASSES, NUM_QUERIES, build_tiny_model,
                            data_samples)

from mmdet.structures.mask import BitmapMasks


@pytest.fixture(scope='module')
def model():
    # fixed weights, whatever ran before: the path comparisons hold up to
    # rounding, which a draw with a mask logit at the attention threshold breaks
    torch.manual_seed(0)
    return build_tiny_model()


@pytest.fixture(scope='module')
def feats(model):
    torch.manual_seed(0)
    with torch.no_grad():
        return model.extract_feat(torch.randn(2, 3, 64, 96))


def test_single_query_table_and_shared_norm(model):
    head = model.panoptic_head
    assert not hasattr(head, 'query_feat')
    assert head.query_embed.weight.shape == (NUM_QUERIES, DIMS)
    assert head.decoder_norm is head.transformer_decoder.post_norm
    keys = head.state_dict().keys()
    assert not any(k.startswith('query_feat') for k in keys)
    # the shared norm is stored once, under the decoder
    ln_keys = [k for k in keys if k.endswith('post_norm.weight')]
    assert sorted(ln_keys) == [
        'query_initialiser.decoder.post_norm.weight',
        'transformer_decoder.post_norm.weight'
    ]


def test_forward_outputs(model, feats):
    head = model.panoptic_head
    tasks = ['panoptic', 'semantic']
    with torch.no_grad():
        cls_preds, mask_preds, queries = head(feats, tasks)
    assert len(cls_preds) == len(mask_preds) == 10
    assert all(c.shape == (2, NUM_QUERIES, NUM_CLASSES + 1) for c in cls_preds)
    assert all(m.shape == (2, NUM_QUERIES, 16, 24) for m in mask_preds)
    assert queries.shape == (2, NUM_QUERIES, DIMS)
    torch.testing.assert_close(queries[:, -1],
                               head.decoder_norm(head.task_encoder(tasks)))


def test_tasks_share_one_pixel_decoder_pass(model, feats):
    """Three tasks per image in one decoder pass (image-major pairs) == one
    separate pass per (image, task), for all 10 predictions."""
    head = model.panoptic_head
    tasks = ['panoptic', 'instance', 'semantic']
    with torch.no_grad():
        cls_preds, mask_preds, queries = head(
            feats, tasks * 2, num_tasks=3)
        for p in range(6):
            image, task = divmod(p, 3)
            single = head([f[image:image + 1] for f in feats],
                          [tasks[task]])
            for layer in range(10):
                torch.testing.assert_close(cls_preds[layer][p:p + 1],
                                           single[0][layer], rtol=0, atol=1e-5)
                torch.testing.assert_close(mask_preds[layer][p:p + 1],
                                           single[1][layer], rtol=0, atol=1e-5)
            torch.testing.assert_close(queries[p:p + 1], single[2], rtol=0,
                                       atol=1e-5)


def test_inference_path_equals_training_path(model, feats):
    """Without the auxiliary predictions the attention masks come from mask
    features resized to each level (linearity of bilinear resizing): the
    final prediction is that of the full path up to rounding."""
    head = model.panoptic_head
    tokens = ['panoptic', 'instance', 'semantic'] * 2
    with torch.no_grad():
        cls_full, mask_full, queries = head(feats, tokens, num_tasks=3)
        cls_fast, mask_fast, queries_fast = head(
            feats, tokens, num_tasks=3, all_predictions=False)
    assert len(cls_fast) == len(mask_fast) == 1
    torch.testing.assert_close(queries_fast, queries)
    torch.testing.assert_close(cls_fast[0], cls_full[-1], atol=1e-4, rtol=0)
    torch.testing.assert_close(mask_fast[0], mask_full[-1], atol=1e-4, rtol=0)
    assert mask_full[-1].std() > 0.1  # a live comparison


def test_attention_mask_from_resized_features(model, feats):
    """``_attention_mask`` == mmdet's sigmoid(resize(stride-4 logits)) < 0.5,
    except where a logit is within rounding of the threshold."""
    head = model.panoptic_head
    torch.manual_seed(0)
    query = torch.randn(2, NUM_QUERIES, DIMS)
    with torch.no_grad():
        mask_features, _ = head.pixel_decoder(feats)
        for size in ((2, 3), (4, 6), (8, 12)):
            _, _, expected = head._forward_head(query, mask_features, size)
            resized = torch.nn.functional.interpolate(
                mask_features, size, mode='bilinear', align_corners=False)
            blocked = head._attention_mask(query, 0, level_features=[resized])
            assert blocked.shape[:2] == (2, 1)  # one mask for all heads
            blocked = blocked.expand(-1, head.num_heads, -1, -1).flatten(0, 1)
            logits = torch.einsum('bqc,bchw->bqhw',
                                  head.mask_embed(head.decoder_norm(query)),
                                  resized).flatten(2)
            logits = logits.repeat_interleave(head.num_heads, dim=0)
            decided = logits.abs() > 1e-5
            assert decided.float().mean() > 0.99
            # fully blocked rows are unblocked by both
            expected &= ~expected.all(-1, keepdim=True)
            assert torch.equal(blocked[decided], expected[decided])
            assert 0.05 < blocked.float().mean() < 0.95


def test_predict_at_stride_4(model, feats):
    samples = data_samples(2, pad_shape=(64, 96))
    with torch.no_grad():
        cls, masks = model.panoptic_head.predict(
            feats, samples, ['instance', 'instance'])
    assert cls.shape == (2, NUM_QUERIES, NUM_CLASSES + 1)
    assert masks.shape == (2, NUM_QUERIES, 16, 24)


def test_inherited_losses(model):
    torch.manual_seed(0)
    model.train()
    try:
        images = torch.randn(2, 3, 64, 96)
        samples = data_samples(2, pad_shape=(64, 96))
        for sample, labels in zip(samples, ([0, 3], [1])):
            masks = torch.zeros(len(labels), 64, 96, dtype=torch.bool)
            masks[0, :20, :30] = True
            if len(labels) > 1:
                masks[1, 30:] = True
            sample.gt_instances = InstanceData(
                labels=torch.tensor(labels),
                masks=BitmapMasks(masks.numpy(), 64, 96))
        feats = model.extract_feat(images)
        losses = model.panoptic_head.loss(
            feats, samples, ['panoptic', 'semantic'])
    finally:
        model.eval()
    assert {'loss_cls', 'loss_mask', 'loss_dice'} <= set(losses)
    assert 'd8.loss_dice' in losses and 'd9.loss_dice' not in losses
    total = sum(losses.values())
    assert torch.isfinite(total)
    total.backward()
    assert model.panoptic_head.task_encoder.mlp[0].weight.grad is not None
    assert model.panoptic_head.query_embed.weight.grad is not None
    model.zero_grad()


def test_pixel_decoder_in_fp32_under_autocast(model, feats):
    dtypes = []
    hook = model.panoptic_head.pixel_decoder.register_forward_hook(
        lambda module, args, out: dtypes.append(out[0].dtype))
    try:
        with torch.no_grad(), torch.autocast('cpu', dtype=torch.bfloat16):
            cls_preds, _, _ = model.panoptic_head(
                [f.bfloat16() for f in feats],
                ['panoptic', 'instance'])
    finally:
        hook.remove()
    assert dtypes == [torch.float32]
    assert cls_preds[-1].dtype == torch.bfloat16


def _xavier_uniform_bound(param):
    fan_in, fan_out = torch.nn.init._calculate_fan_in_and_fan_out(param)
    return (6.0 / (fan_in + fan_out))**0.5


def _matrices(head):
    """(part, name, parameter) of every matrix the release draws xavier-uniform:
    the masked decoder, the class transformer (query initialiser) and the pixel
    decoder's deformable encoder, less the attentions' zero-initialised ones."""
    parts = dict(decoder=head.transformer_decoder,
                 class_transformer=head.query_initialiser.decoder,
                 encoder=head.pixel_decoder.encoder)
    for part, module in parts.items():
        for name, param in module.named_parameters():
            if param.dim() > 1 and not name.endswith(
                    ('sampling_offsets.weight', 'attention_weights.weight')):
                yield part, name, param


def test_released_init_is_xavier_uniform():
    """The released init: xavier_uniform_ on every matrix (values within, and
    filling, +-sqrt(6 / (fan_in + fan_out))), then the deformable attentions' own
    reset; mmdet's xavier_normal_ (same variance, tails past that bound) fails."""
    from mmcv.ops import MultiScaleDeformableAttention
    from mmdet.models.dense_heads import Mask2FormerHead

    torch.manual_seed(0)
    head = build_tiny_model().panoptic_head  # init_weights() ran
    checked = set()
    for part, name, param in _matrices(head):
        bound = _xavier_uniform_bound(param)
        peak = param.abs().max().item()
        assert 0.95 * bound < peak <= bound, (part, name, peak, bound)
        checked.add(part)
    assert checked == {'decoder', 'class_transformer', 'encoder'}
    attns = [m for m in head.pixel_decoder.encoder.modules()
             if isinstance(m, MultiScaleDeformableAttention)]
    assert attns
    for attn in attns:
        assert not attn.sampling_offsets.weight.any()
        assert not attn.attention_weights.weight.any()
        assert not attn.attention_weights.bias.any()
        assert not attn.value_proj.bias.any()
        # the offset grid: point k of every head at distance k + 1 (max norm)
        grid = attn.sampling_offsets.bias.view(attn.num_heads, attn.num_levels,
                                               attn.num_points, 2)
        assert torch.equal(grid.abs().amax((0, 1, 3)),
                           torch.arange(1., attn.num_points + 1))
    # normal_(0, 1), as released (far past a xavier bound)
    level = head.pixel_decoder.level_encoding.weight
    assert level.abs().max() > 3 * _xavier_uniform_bound(level)

    # the check tells the two apart: mmdet's own init (xavier_normal_) fails it
    Mask2FormerHead.init_weights(head)
    beyond = {part for part, _, param in _matrices(head)
              if param.abs().max() > _xavier_uniform_bound(param)}
    assert beyond == {'decoder', 'encoder'}
