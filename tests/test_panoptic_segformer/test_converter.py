"""Released Panoptic SegFormer (mmdet 2.x / mmcv 1.x names) -> mmdet 3.x.

The released-layout state dict is made here from a tiny model's state dict
by an independent inverse table written from the release's module names
(``bbox_head.transformer.*``, ``attentions.0/1``, ``ffns.0``,
``things_mask_head.blocks.*``, ``attnen`` ...); the converter must give the
model's tensors back exactly and fail loudly on an extra or missing key.
"""
import re
import runpy

import pytest
import torch
from mmengine.registry import init_default_scope

from mmdet.registry import MODELS
from tests.test_panoptic_segformer.test_panoptic_segformer import tiny_config
from tests.utils import REPO

SCRIPT = f'{REPO}/tools/model_converters/panoptic_segformer_to_mmdet.py'
_T = 'bbox_head.transformer.'

# Inside a mask decoder, after blocks/attnen/attn renaming: our name part ->
# released name part (in order).
MASK_PARTS = [
    ('self_attn.attn.in_proj_', 'self_attention.qkv.'),
    ('self_attn.attn.out_proj', 'self_attention.proj'),
    ('self_attn_norm', 'norm3'), ('cross_attn_norm', 'head_norm1'),
    ('ffn_norm', 'head_norm2'), ('ffn.layers.0.0', 'mlp.fc1'),
    ('ffn.layers.1', 'mlp.fc2'), ('q_proj', 'q'), ('k_proj', 'k'),
    ('v_proj', 'v'), ('out_proj', 'proj'), ('fuse_fc', 'linear.0'),
]


def _released_mask_key(m):
    kind = 'things' if m[1] == 'thing' else 'stuff'
    rest = re.sub(r'^layers\.(\d+)\.', r'blocks.\1.', m[2])
    rest = rest.replace('mask_tail.', 'attnen.').replace('cross_attn.', 'attn.')
    for ours, released in MASK_PARTS:
        rest = rest.replace(ours, released)
    rest = re.sub(r'level_fcs\.(\d)',
                  lambda n: f'linear_l{int(n[1]) + 1}.0', rest)
    return f'bbox_head.{kind}_mask_head.{rest}'


MMDET_TO_RELEASED = [
    (r'level_embed', _T + 'level_embeds'),
    (r'reference_points_fc\.(.+)', _T + r'reference_points.\1'),
    (r'query_embedding\.weight', 'bbox_head.query_embedding.weight'),
    (r'encoder\.layers\.(\d+)\.self_attn\.(.+)',
     _T + r'encoder.layers.\1.attentions.0.\2'),
    (r'decoder\.layers\.(\d+)\.self_attn\.(.+)',
     _T + r'decoder.layers.\1.attentions.0.\2'),
    (r'decoder\.layers\.(\d+)\.cross_attn\.(.+)',
     _T + r'decoder.layers.\1.attentions.1.\2'),
    (r'(encoder|decoder)\.layers\.(\d+)\.ffn\.(.+)',
     _T + r'\1.layers.\2.ffns.0.\3'),
    (r'(encoder|decoder)\.layers\.(\d+)\.norms\.(.+)',
     _T + r'\1.layers.\2.norms.\3'),
    (r'bbox_head\.(thing|stuff)_mask_decoder\.(.+)', _released_mask_key),
    (r'((backbone|neck|bbox_head)\..+)', r'\1'),
]


def to_released(state_dict):
    out = {}
    for key, value in state_dict.items():
        for pattern, target in MMDET_TO_RELEASED:
            m = re.fullmatch(pattern, key)
            if m:
                new = m.expand(target) if isinstance(target, str) else \
                    target(m)
                out[new] = value.clone()
                break
        else:
            raise AssertionError(f'no released name for {key}')
    return out


@pytest.fixture(scope='module')
def model_and_config(tmp_path_factory):
    cfg = tiny_config()
    cfg.model.bbox_head.thing_mask_decoder.num_layers = 2
    cfg.model.bbox_head.stuff_mask_decoder.num_layers = 2
    path = tmp_path_factory.mktemp('cfg') / 'tiny_pseg.py'
    cfg.dump(str(path))
    init_default_scope('mmdet')
    model = MODELS.build(cfg.model)
    model.init_weights()
    return model.state_dict(), str(path)


def run_script(monkeypatch, *args):
    monkeypatch.setattr('sys.argv', [SCRIPT, *map(str, args)])
    with pytest.raises(SystemExit) as exit_info:
        runpy.run_path(SCRIPT, run_name='__main__')
    return exit_info.value.code


def _released_checkpoint(state_dict, path, edit=None):
    released = to_released(state_dict)
    # zero-weighted branches of the release: recognised and dropped
    released['bbox_head.cls_thing_branches.0.weight'] = torch.zeros(3, 32)
    released['bbox_head.reg_branches2.0.4.bias'] = torch.zeros(4)
    if edit:
        edit(released)
    torch.save({'state_dict': released, 'meta': dict(epoch=24)}, path)


def test_released_names(model_and_config):
    released = to_released(model_and_config[0])
    for key in (_T + 'encoder.layers.0.attentions.0.sampling_offsets.weight',
                _T + 'decoder.layers.1.attentions.0.attn.in_proj_weight',
                _T + 'decoder.layers.1.ffns.0.layers.0.0.weight',
                'bbox_head.things_mask_head.blocks.1.attn.linear_l3.0.bias',
                'bbox_head.stuff_mask_head.blocks.0.self_attention.qkv.weight',
                'bbox_head.stuff_mask_head.attnen.linear.0.weight',
                'bbox_head.things_mask_head.attnen.q.weight',
                'bbox_head.query_embedding.weight', 'neck.convs.0.gn.weight'):
        assert key in released, key


def test_cli_round_trip(model_and_config, tmp_path, monkeypatch, capsys):
    state_dict, config = model_and_config
    src, dst = tmp_path / 'released.pth', tmp_path / 'converted.pth'
    _released_checkpoint(state_dict, src)
    code = run_script(monkeypatch, src, dst, '--config', config)
    out = capsys.readouterr().out
    assert code == 0, out
    assert 'OK' in out and 'dropped: 2' in out
    converted = torch.load(dst, weights_only=True)['state_dict']
    assert set(converted) == set(state_dict)
    for key, value in state_dict.items():
        assert torch.equal(converted[key], value), key


@pytest.mark.parametrize('case', ['extra', 'missing'])
def test_cli_fails_loudly(case, model_and_config, tmp_path, monkeypatch,
                          capsys):
    state_dict, config = model_and_config
    if case == 'extra':
        key = 'bbox_head.things_mask_head.blocks.0.attn.extra.weight'

        def edit(sd):
            sd[key] = torch.zeros(1)
        expected = key
    else:
        removed = 'bbox_head.stuff_mask_head.attnen.linear_l2.0.weight'

        def edit(sd):
            del sd[removed]
        expected = 'bbox_head.stuff_mask_decoder.mask_tail.level_fcs.1.weight'
    src, dst = tmp_path / 'released.pth', tmp_path / 'converted.pth'
    _released_checkpoint(state_dict, src, edit)
    code = run_script(monkeypatch, src, dst, '--config', config)
    out = capsys.readouterr().out
    assert code == 1
    assert 'FAILED' in out and expected in out
    assert not dst.exists()


def test_swin_backbone_names():
    """``--backbone swin``: the release's original Swin names map to mmdet's
    ``SwinTransformer`` (rules shared with the OneFormer converter)."""
    from projects.panoptic_segformer.converter import \
        convert_panoptic_segformer_state_dict
    released = {
        'backbone.layers.2.blocks.5.attn.qkv.weight': torch.zeros(6, 2),
        'backbone.layers.2.blocks.5.mlp.fc1.bias': torch.zeros(8),
        'backbone.norm3.weight': torch.zeros(2),
        'bbox_head.transformer.level_embeds': torch.zeros(4, 2),
    }
    out, report = convert_panoptic_segformer_state_dict(released, 'swin')
    assert not report.unmapped
    assert {'backbone.stages.2.blocks.5.attn.w_msa.qkv.weight',
            'backbone.stages.2.blocks.5.ffn.layers.0.0.bias',
            'backbone.norm3.weight', 'level_embed'} == set(out)
