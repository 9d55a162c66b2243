"""The released optimiser rules (detectron2 build_optimizer of OneFormer)."""
from mmengine.config import ConfigDict
from torch import nn

import projects.oneformer  # noqa: F401
from mmdet.registry import OPTIM_WRAPPER_CONSTRUCTORS
from mmdet.models.backbones import SwinTransformer
from projects.oneformer.models import TextMapper


class Toy(nn.Module):

    def __init__(self):
        super().__init__()
        self.backbone = SwinTransformer(
            embed_dims=8, depths=(1, 1), num_heads=(1, 1), window_size=2,
            out_indices=(0, 1), use_abs_pos_embed=True, pretrain_img_size=8)
        self.backbone.frozen = nn.Linear(2, 2)
        self.backbone.frozen.requires_grad_(False)
        self.head = nn.Module()
        self.head.linear = nn.Linear(4, 4)
        self.head.norm = nn.LayerNorm(4)
        self.head.gn = nn.GroupNorm(2, 4)
        self.head.query_embed = nn.Embedding(3, 4)
        self.head.level_embed = nn.Embedding(3, 4)
        # mmdet's MSDeformAttnPixelDecoder keeps the per-level table as an
        # nn.Embedding; the released one is a bare nn.Parameter
        self.head.pixel_decoder = nn.Module()
        self.head.pixel_decoder.level_encoding = nn.Embedding(3, 4)
        self.text_mapper = TextMapper(
            embed_dims=8, text_encoder=dict(width=8, heads=1, layers=1),
            num_context=2)


def groups(**paramwise):
    model = Toy()
    constructor = OPTIM_WRAPPER_CONSTRUCTORS.build(
        dict(type='OneFormerOptimWrapperConstructor',
             optim_wrapper_cfg=ConfigDict(
                 optimizer=dict(type='AdamW', lr=1e-4, weight_decay=0.05)),
             paramwise_cfg=paramwise))
    optimizer = constructor(model).optimizer
    names = {id(p): n for n, p in model.named_parameters()}
    table = {}
    for group in optimizer.param_groups:
        assert len(group['params']) == 1
        table[names[id(group['params'][0])]] = (group['lr'],
                                                group['weight_decay'])
    return model, table


def test_released_rules():
    model, table = groups()
    expected = {
        'backbone.patch_embed.projection.weight': (1e-5, 0.05),
        'backbone.patch_embed.norm.weight': (1e-5, 0.0),
        'backbone.absolute_pos_embed': (1e-5, 0.0),
        'backbone.stages.0.blocks.0.attn.w_msa.relative_position_bias_table':
        (1e-5, 0.0),
        'backbone.stages.0.blocks.0.norm1.bias': (1e-5, 0.0),
        'backbone.stages.0.blocks.0.ffn.layers.1.weight': (1e-5, 0.05),
        'backbone.norm1.weight': (1e-5, 0.0),
        'head.linear.weight': (1e-4, 0.05),
        'head.linear.bias': (1e-4, 0.05),
        'head.norm.weight': (1e-4, 0.0),
        'head.gn.bias': (1e-4, 0.0),
        'head.query_embed.weight': (1e-4, 0.0),
        'head.level_embed.weight': (1e-4, 0.0),
        # released: a bare Parameter in the pixel decoder, so it decays
        'head.pixel_decoder.level_encoding.weight': (1e-4, 0.05),
        'text_mapper.prompt_ctx.weight': (1e-4, 0.0),
        'text_mapper.text_encoder.token_embedding.weight': (1e-4, 0.0),
        # a Parameter, not an nn.Embedding: decays, as released
        'text_mapper.text_encoder.positional_embedding': (1e-4, 0.05),
    }
    for name, (lr, wd) in expected.items():
        assert abs(table[name][0] - lr) < 1e-12, name
        assert table[name][1] == wd, name
    # every trainable parameter once, frozen ones left out
    trainable = [n for n, p in model.named_parameters() if p.requires_grad]
    assert sorted(table) == sorted(trainable)
    assert 'backbone.frozen.weight' not in table


def test_norm_types_that_decay_and_multipliers():
    _, table = groups(backbone_lr_mult=0.5, decay_norm_types=('LayerNorm', ),
                      embed_decay_mult=1.0)
    assert table['backbone.patch_embed.norm.weight'] == (5e-5, 0.05)
    assert table['head.gn.bias'] == (1e-4, 0.0)
    assert table['head.query_embed.weight'] == (1e-4, 0.05)


def test_decaying_embeddings_are_configurable():
    _, table = groups(decay_embed_names=())
    assert table['head.pixel_decoder.level_encoding.weight'] == (1e-4, 0.0)
    # a dotted tail names the module, a bare substring does not
    _, table = groups(decay_embed_names=('level_embed', 'coder.level_encoding'))
    assert table['head.level_embed.weight'] == (1e-4, 0.05)
    assert table['head.pixel_decoder.level_encoding.weight'] == (1e-4, 0.0)


def test_released_decay_on_the_oneformer_model():
    """On a (tiny) OneFormer: the pixel decoder's level table decays, the masked
    decoder's level and query tables do not."""
    from tests.test_models.tiny_oneformer import build_tiny_model
    model = build_tiny_model()
    constructor = OPTIM_WRAPPER_CONSTRUCTORS.build(
        dict(type='OneFormerOptimWrapperConstructor',
             optim_wrapper_cfg=ConfigDict(
                 optimizer=dict(type='AdamW', lr=1e-4, weight_decay=0.05))))
    optimizer = constructor(model).optimizer
    decay = {id(g['params'][0]): g['weight_decay'] for g in optimizer.param_groups}
    params = dict(model.named_parameters())
    head = 'panoptic_head.'
    assert decay[id(params[head + 'pixel_decoder.level_encoding.weight'])] == 0.05
    assert decay[id(params[head + 'level_embed.weight'])] == 0.0
    assert decay[id(params[head + 'query_embed.weight'])] == 0.0
    assert decay[id(params[head + 'cls_embed.weight'])] == 0.05
