"""Converters: Hugging Face and released detectron2 layouts -> mmdet.

The detectron2 state dict is built here from an mmdet state dict with an
independent inverse key table written from the released module names
(``sem_seg_head.pixel_decoder.*``, ``sem_seg_head.predictor.*``, ``task_mlp``,
``text_encoder``, ...), with FrozenBN (no ``num_batches_tracked``) in the
backbone.
"""
import re
import runpy
import sys
from pathlib import Path

import pytest
import torch
from mmengine.config import Config
from mmengine.registry import init_default_scope
from mmengine.runner import load_checkpoint

sys.path.insert(0, str(Path(__file__).parents[1] / 'test_models'))
from tests.test_models.tiny_oneformer import (
    build_tiny_model,
    tiny_hf_model,  # noqa: E402
    tiny_model_cfg)

from mmdet.registry import MODELS  # noqa: E402
from projects.common.converters import check_against_model  # noqa: E402
from projects.oneformer.converters import (  # noqa: E402
    convert_d2_state_dict, convert_hf_state_dict)
from tests.test_models.tiny_oneformer import NUM_CLASSES  # noqa: E402
from tests.test_mmseg.tiny import build_segmentor  # noqa: E402
from tests.test_mmseg.tiny import \
    tiny_config as tiny_mmseg_config  # noqa: E402

ROOT = Path(__file__).parents[2]
PD, PR = 'sem_seg_head.pixel_decoder.', 'sem_seg_head.predictor.'
_PIX, _QI = r'panoptic_head\.pixel_decoder\.', r'panoptic_head\.query_init' \
    r'ialiser\.'
_TD = r'panoptic_head\.transformer_decoder\.'


def _shift(template, **offsets):
    """Template target whose named groups get integer offsets."""

    def target(m):
        values = {
            k: int(v) + offsets.get(k, 0) if v.isdigit() else v
            for k, v in m.groupdict().items()
        }
        return template.format(**values)

    return target


# mmdet name -> released detectron2 name
MMDET_TO_D2 = [
    (r'backbone\.conv1\.weight', 'backbone.stem.conv1.weight'),
    (r'backbone\.bn1\.(?P<p>.+)', _shift('backbone.stem.conv1.norm.{p}')),
    (r'backbone\.layer(?P<s>\d)\.(?P<b>\d+)\.conv(?P<k>\d)\.weight',
     _shift('backbone.res{s}.{b}.conv{k}.weight', s=1)),
    (r'backbone\.layer(?P<s>\d)\.(?P<b>\d+)\.bn(?P<k>\d)\.(?P<p>.+)',
     _shift('backbone.res{s}.{b}.conv{k}.norm.{p}', s=1)),
    (r'backbone\.layer(?P<s>\d)\.(?P<b>\d+)\.downsample\.0\.weight',
     _shift('backbone.res{s}.{b}.shortcut.weight', s=1)),
    (r'backbone\.layer(?P<s>\d)\.(?P<b>\d+)\.downsample\.1\.(?P<p>.+)',
     _shift('backbone.res{s}.{b}.shortcut.norm.{p}', s=1)),
    (_PIX + r'input_convs\.(\d)\.conv\.(.+)', PD + r'input_proj.\1.0.\2'),
    (_PIX + r'input_convs\.(\d)\.gn\.(.+)', PD + r'input_proj.\1.1.\2'),
    (_PIX + r'level_encoding\.weight', PD + 'transformer.level_embed'),
    (_PIX + r'encoder\.layers\.(\d)\.self_attn\.(.+)',
     PD + r'transformer.encoder.layers.\1.self_attn.\2'),
    (_PIX + r'encoder\.layers\.(\d)\.ffn\.layers\.0\.0\.(.+)',
     PD + r'transformer.encoder.layers.\1.linear1.\2'),
    (_PIX + r'encoder\.layers\.(\d)\.ffn\.layers\.1\.(.+)',
     PD + r'transformer.encoder.layers.\1.linear2.\2'),
    (_PIX + r'encoder\.layers\.(?P<l>\d)\.norms\.(?P<j>\d)\.(?P<p>.+)',
     _shift(PD + 'transformer.encoder.layers.{l}.norm{j}.{p}', j=1)),
    (_PIX + r'lateral_convs\.0\.conv\.weight', PD + 'adapter_1.weight'),
    (_PIX + r'lateral_convs\.0\.gn\.(.+)', PD + r'adapter_1.norm.\1'),
    (_PIX + r'output_convs\.0\.conv\.weight', PD + 'layer_1.weight'),
    (_PIX + r'output_convs\.0\.gn\.(.+)', PD + r'layer_1.norm.\1'),
    (_PIX + r'mask_feature\.(.+)', PD + r'mask_features.\1'),
    (_QI + r'decoder\.layers\.(\d)\.self_attn\.attn\.(.+)',
     PR + r'class_transformer.decoder.layers.\1.self_attn.\2'),
    (_QI + r'decoder\.layers\.(\d)\.cross_attn\.attn\.(.+)',
     PR + r'class_transformer.decoder.layers.\1.multihead_attn.\2'),
    (_QI + r'decoder\.layers\.(\d)\.ffn\.layers\.0\.0\.(.+)',
     PR + r'class_transformer.decoder.layers.\1.linear1.\2'),
    (_QI + r'decoder\.layers\.(\d)\.ffn\.layers\.1\.(.+)',
     PR + r'class_transformer.decoder.layers.\1.linear2.\2'),
    (_QI + r'decoder\.layers\.(?P<l>\d)\.norms\.(?P<j>\d)\.(?P<p>.+)',
     _shift(PR + 'class_transformer.decoder.layers.{l}.norm{j}.{p}', j=1)),
    (_QI + r'decoder\.post_norm\.(.+)',
     PR + r'class_transformer.decoder.norm.\1'),
    (_QI + r'class_input_proj\.(.+)', PR + r'class_input_proj.\1'),
    (_TD + r'layers\.(\d)\.cross_attn\.attn\.(.+)',
     PR + r'transformer_cross_attention_layers.\1.multihead_attn.\2'),
    (_TD + r'layers\.(\d)\.self_attn\.attn\.(.+)',
     PR + r'transformer_self_attention_layers.\1.self_attn.\2'),
    (_TD + r'layers\.(\d)\.ffn\.layers\.0\.0\.(.+)',
     PR + r'transformer_ffn_layers.\1.linear1.\2'),
    (_TD + r'layers\.(\d)\.ffn\.layers\.1\.(.+)',
     PR + r'transformer_ffn_layers.\1.linear2.\2'),
    (_TD + r'layers\.(\d)\.norms\.0\.(.+)',
     PR + r'transformer_cross_attention_layers.\1.norm.\2'),
    (_TD + r'layers\.(\d)\.norms\.1\.(.+)',
     PR + r'transformer_self_attention_layers.\1.norm.\2'),
    (_TD + r'layers\.(\d)\.norms\.2\.(.+)',
     PR + r'transformer_ffn_layers.\1.norm.\2'),
    (_TD + r'post_norm\.(.+)', PR + r'decoder_norm.\1'),
    (r'panoptic_head\.(query_embed|level_embed)\.weight', PR + r'\1.weight'),
    (r'panoptic_head\.cls_embed\.(.+)', PR + r'class_embed.\1'),
    (r'panoptic_head\.mask_embed\.(?P<i>\d)\.(?P<p>.+)',
     lambda m: f'{PR}mask_embed.layers.{int(m["i"]) // 2}.{m["p"]}'),
    (r'panoptic_head\.task_encoder\.mlp\.(?P<i>\d)\.(?P<p>.+)',
     lambda m: f'task_mlp.layers.{int(m["i"]) // 2}.{m["p"]}'),
    (r'panoptic_head\.text_mapper\.text_encoder\.(.+)', r'text_encoder.\1'),
    (r'panoptic_head\.text_mapper\.text_projector\.(?P<i>\d)\.(?P<p>.+)',
     lambda m: f'text_projector.layers.{int(m["i"]) // 2}.{m["p"]}'),
    (r'panoptic_head\.text_mapper\.prompt_ctx\.weight', 'prompt_ctx.weight'),
    (r'panoptic_head\.loss_contrastive\.logit_scale', 'criterion.logit_scale'),
]


# mmseg EncoderDecoder name -> mmdet OneFormer name (longest prefix first)
MMSEG_TO_MMDET = (('decode_head.', 'panoptic_head.'), )


def mmseg_to_mmdet(mmseg_state_dict):
    out = {}
    for key, value in mmseg_state_dict.items():
        for old, new in MMSEG_TO_MMDET:
            if key.startswith(old):
                key = new + key[len(old):]
                break
        out[key] = value
    return out


def to_d2(mmdet_state_dict):
    """Released detectron2 layout of an mmdet OneFormer state dict."""
    out = {}
    for key, value in mmdet_state_dict.items():
        if key.startswith('backbone.') and key.endswith('num_batches_tracked'):
            continue  # FrozenBatchNorm2d has no counter
        for pattern, target in MMDET_TO_D2:
            m = re.fullmatch(pattern, key)
            if m:
                out[m.expand(target
                             ) if isinstance(target, str
                                             ) else target(m)] = value.clone()
                break
        else:
            raise KeyError(f'no inverse rule for {key}')
    out['criterion.empty_weight'] = torch.ones(6)
    return out


@pytest.fixture(scope='module')
def hf():
    return tiny_hf_model()


@pytest.fixture(scope='module')
def hf_converted(hf):
    state_dict, report = convert_hf_state_dict(hf.state_dict())
    assert not report.unmapped, report.format()
    return state_dict, report


def test_hf_conversion_covers_every_tensor(hf, hf_converted):
    state_dict, report = hf_converted
    model_state = build_tiny_model(text_mapper=True).state_dict()
    check_against_model(state_dict, model_state, report)
    assert report.ok, report.format()
    assert report.dropped == ['criterion.empty_weight']
    assert state_dict['panoptic_head.loss_contrastive.logit_scale'].equal(
        hf.state_dict()['criterion.logit_scale'])
    # HF splits self-attention into q/k/v; we fuse them in q, k, v order
    hf_sd = hf.state_dict()
    fused = state_dict['panoptic_head.transformer_decoder.layers.4.self_attn.'
                       'attn.in_proj_weight']
    prefix = 'model.transformer_module.decoder.layers.4.self_attn.self_attn.'
    assert fused.equal(
        torch.cat([hf_sd[prefix + f'{n}_proj.weight'] for n in 'qkv']))


def test_d2_layout_gives_same_model_as_hf(hf_converted):
    hf_state_dict, _ = hf_converted
    d2_state_dict = to_d2(hf_state_dict)
    assert 'backbone.res5.2.conv3.norm.running_var' in d2_state_dict
    assert 'sem_seg_head.predictor.class_transformer.decoder.layers.1.' \
        'multihead_attn.in_proj_weight' in d2_state_dict
    state_dict, report = convert_d2_state_dict(d2_state_dict)
    assert not report.unmapped, report.format()
    assert state_dict.keys() == hf_state_dict.keys()
    for key, value in hf_state_dict.items():
        assert state_dict[key].equal(value), key


def test_full_size_r50_config_round_trip():
    """The real R50 layout (6 encoder layers, 150 queries, 8 heads)."""
    init_default_scope('mmdet')
    cfg = Config.fromfile(str(ROOT / 'configs/_base_/models/oneformer_r50.py'))
    model_state = MODELS.build(cfg.model).state_dict()
    d2_state_dict = to_d2(model_state)
    assert d2_state_dict['sem_seg_head.predictor.query_embed.weight'].shape \
        == (150, 256)
    state_dict, report = convert_d2_state_dict(d2_state_dict)
    check_against_model(state_dict, model_state, report)
    assert report.ok, report.format()


def test_hf_conversion_to_mmseg(hf, hf_converted):
    state_dict, report = convert_hf_state_dict(hf.state_dict(), target='mmseg')
    assert not report.unmapped, report.format()
    assert 'decode_head.task_encoder.mlp.0.weight' in state_dict
    converted = mmseg_to_mmdet(state_dict)
    assert converted.keys() == hf_converted[0].keys()
    for key, value in hf_converted[0].items():
        assert converted[key].equal(value), key
    with pytest.raises(KeyError, match='mmdet'):
        convert_hf_state_dict(hf.state_dict(), target='mmpose')


def test_full_size_r50_mmseg_round_trip():
    """Released layout -> mmseg R50 ADE20K segmentor (with text mapper)."""
    init_default_scope('mmseg')
    from mmseg.registry import MODELS as SEG_MODELS
    cfg = Config.fromfile(
        str(ROOT / 'configs/mmseg/oneformer_r50_8xb2-160k_ade20k-512x512.py'))
    model_state = SEG_MODELS.build(cfg.model).state_dict()
    d2_state_dict = to_d2(mmseg_to_mmdet(model_state))
    assert 'prompt_ctx.weight' in d2_state_dict
    state_dict, report = convert_d2_state_dict(d2_state_dict, target='mmseg')
    check_against_model(state_dict, model_state, report)
    assert report.ok, report.format()
    assert state_dict.keys() == model_state.keys()


@pytest.fixture
def tiny_config(tmp_path):

    def write(**kwargs):
        path = tmp_path / 'tiny_oneformer.py'
        Config(dict(model=tiny_model_cfg(**kwargs))).dump(str(path))
        return str(path)

    return write


def run_script(name, monkeypatch, *args):
    script = ROOT / 'tools/model_converters' / name
    monkeypatch.setattr(sys, 'argv', [str(script), *map(str, args)])
    with pytest.raises(SystemExit) as exit_info:
        runpy.run_path(str(script), run_name='__main__')
    return exit_info.value.code


def test_d2_cli(hf_converted, tiny_config, tmp_path, monkeypatch, capsys):
    src, dst = tmp_path / 'released.pth', tmp_path / 'converted.pth'
    torch.save({'model': to_d2(hf_converted[0]), 'iteration': 5}, src)
    code = run_script('oneformer_d2_to_mmdet.py', monkeypatch, src, dst,
                      '--config', tiny_config())
    out = capsys.readouterr().out
    assert code == 0, out
    assert 'OK' in out and 'dropped: 1' in out
    # the converted checkpoint has the text mapper; inference models do not
    # build it and load the checkpoint without any message
    model = build_tiny_model()
    capsys.readouterr()
    load_checkpoint(model, str(dst), map_location='cpu', strict=True)
    assert not re.search('missing|unexpected|mismatch',
                         capsys.readouterr().out, re.I)


def test_d2_cli_mmseg_target(hf_converted, tmp_path, monkeypatch, capsys):
    """--target mmseg: the released checkpoint loads into the mmseg
    segmentor, every tensor where the mmdet conversion puts it."""
    config = tmp_path / 'tiny_mmseg.py'
    tiny_mmseg_config(num_classes=NUM_CLASSES).dump(str(config))
    src, dst = tmp_path / 'released.pth', tmp_path / 'converted.pth'
    torch.save({'model': to_d2(hf_converted[0])}, src)
    code = run_script('oneformer_d2_to_mmdet.py', monkeypatch, src, dst,
                      '--config', config, '--target', 'mmseg')
    out = capsys.readouterr().out
    assert code == 0, out
    assert 'OK' in out and 'dropped: 1' in out
    model = build_segmentor(num_classes=NUM_CLASSES)
    load_checkpoint(model, str(dst), map_location='cpu', strict=True)
    state = model.state_dict()
    for key, value in hf_converted[0].items():
        for new, old in MMSEG_TO_MMDET + (('backbone.', 'backbone.'), ):
            if key.startswith(old):
                loaded = state[new + key[len(old):]]
                assert loaded.equal(value.to(loaded.dtype)), key
                break
        else:
            raise AssertionError(f'{key} has no place in the mmseg model')


def test_hf_cli(hf, tiny_config, tmp_path, monkeypatch, capsys):
    hf.save_pretrained(tmp_path / 'hf')
    dst = tmp_path / 'converted.pth'
    code = run_script('oneformer_hf_to_mmdet.py', monkeypatch, tmp_path / 'hf',
                      dst, '--config', tiny_config(text_mapper=True))
    assert code == 0, capsys.readouterr().out
    assert dst.exists()


@pytest.mark.parametrize('case', ['unmapped', 'missing', 'classes'])
def test_d2_cli_fails_loudly(case, hf_converted, tiny_config, tmp_path,
                             monkeypatch, capsys):
    d2_state_dict = to_d2(hf_converted[0])
    num_things = 3
    if case == 'unmapped':
        d2_state_dict['sem_seg_head.predictor.extra_head.weight'] = \
            torch.zeros(1)
        expected = 'sem_seg_head.predictor.extra_head.weight'
    elif case == 'missing':
        del d2_state_dict['sem_seg_head.predictor.query_embed.weight']
        expected = 'panoptic_head.query_embed.weight'
    else:
        num_things = 4
        expected = 'panoptic_head.cls_embed.weight: checkpoint (6, 64) vs ' \
            'model (7, 64)'
    src, dst = tmp_path / 'released.pth', tmp_path / 'converted.pth'
    torch.save({'model': d2_state_dict}, src)
    code = run_script('oneformer_d2_to_mmdet.py', monkeypatch, src, dst,
                      '--config', tiny_config(num_things=num_things))
    out = capsys.readouterr().out
    assert code == 1
    assert 'FAILED' in out and expected in out
    assert not dst.exists()


def test_unknown_backbone_mapping():
    with pytest.raises(KeyError, match='resnet.*swin'):
        convert_d2_state_dict({}, backbone='intern_image')


# mmdet SwinTransformer name -> released D2SwinTransformer name
_SWIN_BLOCK = r'backbone\.stages\.(?P<s>\d)\.blocks\.(?P<b>\d+)\.'
MMDET_SWIN_TO_D2 = [
    (r'backbone\.patch_embed\.projection\.(.+)',
     r'backbone.patch_embed.proj.\1'),
    (r'backbone\.patch_embed\.norm\.(.+)', r'backbone.patch_embed.norm.\1'),
    (_SWIN_BLOCK + r'(?P<n>norm1|norm2)\.(?P<p>.+)',
     _shift('backbone.layers.{s}.blocks.{b}.{n}.{p}')),
    (_SWIN_BLOCK + r'attn\.w_msa\.(?P<n>qkv|proj)\.(?P<p>.+)',
     _shift('backbone.layers.{s}.blocks.{b}.attn.{n}.{p}')),
    (_SWIN_BLOCK + r'attn\.w_msa\.(?P<n>relative_position_\w+)',
     _shift('backbone.layers.{s}.blocks.{b}.attn.{n}')),
    (_SWIN_BLOCK + r'ffn\.layers\.0\.0\.(?P<p>.+)',
     _shift('backbone.layers.{s}.blocks.{b}.mlp.fc1.{p}')),
    (_SWIN_BLOCK + r'ffn\.layers\.1\.(?P<p>.+)',
     _shift('backbone.layers.{s}.blocks.{b}.mlp.fc2.{p}')),
    (r'backbone\.stages\.(\d)\.downsample\.(.+)',
     r'backbone.layers.\1.downsample.\2'),
    (r'backbone\.norm(\d)\.(.+)', r'backbone.norm\1.\2'),
]


def unfold_to_released(tensor):
    """Inverse patch-merging reorder: mmdet's nn.Unfold channel 4c + k
    (k over (0,0), (0,1), (1,0), (1,1)) -> released block t of C channels
    (t over (0,0), (1,0), (0,1), (1,1)) at offset c."""
    channels = tensor.shape[-1]
    c = channels // 4
    k_of_block = [0, 2, 1, 3]
    index = torch.tensor(
        [4 * i + k_of_block[t] for t in range(4) for i in range(c)])
    return tensor[..., index]


def swin_to_d2(mmdet_state_dict):
    """Released layout of an mmdet OneFormer with a Swin backbone."""
    out = to_d2(
        {k: v
         for k, v in mmdet_state_dict.items()
         if not k.startswith('backbone.')})
    for key, value in mmdet_state_dict.items():
        if not key.startswith('backbone.'):
            continue
        for pattern, target in MMDET_SWIN_TO_D2:
            m = re.fullmatch(pattern, key)
            if m:
                break
        else:
            raise KeyError(f'no inverse rule for {key}')
        if '.downsample.' in key:
            value = unfold_to_released(value)
        out[m.expand(target) if isinstance(target, str) else target(m)] = \
            value.clone()
    return out


@pytest.fixture(scope='module')
def hf_swin_converted():
    hf = tiny_hf_model(backbone='swin')
    state_dict, report = convert_hf_state_dict(
        hf.state_dict(), backbone='swin')
    assert not report.unmapped, report.format()
    return hf, state_dict, report


def test_swin_hf_conversion_covers_every_tensor(hf_swin_converted):
    hf, state_dict, report = hf_swin_converted
    model_state = build_tiny_model(
        text_mapper=True, backbone='swin').state_dict()
    check_against_model(state_dict, model_state, report)
    assert report.ok, report.format()
    # dropped (and unmapped) keys are reported under their HF names
    assert sorted(report.dropped)[1:] == sorted(
        f'model.pixel_level_module.encoder.encoder.layers.{s}.blocks.{b}.'
        'attention.self.relative_position_index'
        for s in range(4) for b in range(2))
    hf_sd = hf.state_dict()
    prefix = 'model.pixel_level_module.encoder.'
    attn = prefix + 'encoder.layers.2.blocks.1.attention.self.'
    qkv = state_dict['backbone.stages.2.blocks.1.attn.w_msa.qkv.weight']
    assert qkv.equal(
        torch.cat([hf_sd[attn + f'{n}.weight']
                   for n in ('query', 'key', 'value')]))
    assert state_dict['backbone.norm3.bias'].equal(
        hf_sd[prefix + 'hidden_states_norms.stage4.bias'])
    merged = prefix + 'encoder.layers.1.downsample.'
    assert unfold_to_released(
        state_dict['backbone.stages.1.downsample.reduction.weight']).equal(
            hf_sd[merged + 'reduction.weight'])
    assert unfold_to_released(
        state_dict['backbone.stages.1.downsample.norm.bias']).equal(
            hf_sd[merged + 'norm.bias'])


def test_swin_d2_layout_gives_same_model_as_hf(hf_swin_converted):
    _, hf_state_dict, _ = hf_swin_converted
    d2_state_dict = swin_to_d2(hf_state_dict)
    assert 'backbone.layers.2.downsample.reduction.weight' in d2_state_dict
    assert 'backbone.layers.3.blocks.1.attn.relative_position_index' in \
        d2_state_dict
    state_dict, report = convert_d2_state_dict(d2_state_dict, backbone='swin')
    assert not report.unmapped, report.format()
    assert len(report.dropped) == 1 + 8
    assert state_dict.keys() == hf_state_dict.keys()
    for key, value in hf_state_dict.items():
        assert state_dict[key].equal(value), key


def test_full_size_swin_l_mmseg_round_trip():
    """Released Swin-L layout (window 12, 18-block stage) -> mmseg ADE20K
    segmentor: every tensor, rebuilt index buffers included, comes back."""
    init_default_scope('mmseg')
    from mmseg.registry import MODELS as SEG_MODELS
    cfg = Config.fromfile(
        str(ROOT / 'configs/mmseg/'
            'oneformer_swin-l_8xb2-160k_ade20k-640x640.py'))
    cfg.model.backbone.init_cfg = None
    model_state = SEG_MODELS.build(cfg.model).state_dict()
    d2_state_dict = swin_to_d2(mmseg_to_mmdet(model_state))
    assert d2_state_dict['backbone.layers.2.blocks.17.attn.'
                         'relative_position_bias_table'].shape == (23**2, 24)
    state_dict, report = convert_d2_state_dict(
        d2_state_dict, backbone='swin', target='mmseg')
    check_against_model(state_dict, model_state, report)
    assert report.ok, report.format()
    assert state_dict.keys() == model_state.keys()
    for key, value in model_state.items():
        assert state_dict[key].equal(value), key


def _release_index(dataset, name):
    """Released class id of a class name, from a table outside this plugin
    (mmseg's ADE20K order, cityscapesscripts' train ids)."""
    if dataset == 'cityscapes':
        from cityscapesscripts.helpers.labels import name2label
        return name2label[name].trainId
    from mmseg.datasets import ADE20KDataset

    from tests.test_tools.test_released_checkpoints import same_class
    matches = [i for i, theirs in enumerate(ADE20KDataset.METAINFO['classes'])
               if same_class(name, theirs)]
    assert len(matches) == 1, (name, matches)
    return matches[0]


@pytest.mark.parametrize('backbone,config,dataset', [
    ('resnet', 'oneformer_r50_8xb2-160k_ade20k-512x512', 'ade20k'),
    ('swin', 'oneformer_swin-l_8xb2-160k_ade20k-640x640', 'ade20k'),
    ('convnext', 'oneformer_convnext-l_8xb2-90k_cityscapes-512x1024',
     'cityscapes'),
    ('dinat', 'oneformer_dinat-l_8xb2-160k_ade20k-640x640', 'ade20k'),
])
def test_full_size_released_layout_with_class_order(backbone, config, dataset):
    """A released-layout state dict of the full-size model (official module
    names, classifier rows in the release's class order) maps every key, and
    each class's row lands on that class's label."""
    from projects.common.converters import dataset_metainfo
    from projects.oneformer.converters import reorder_classes
    from tests.test_tools.test_backbone_converters import \
        released_convnext_state_dict
    init_default_scope('mmdet')
    cfg = Config.fromfile(str(ROOT / 'configs/oneformer' / f'{config}.py'))
    cfg.model.backbone.init_cfg = None
    model_state = MODELS.build(cfg.model).state_dict()
    if backbone == 'resnet':
        released = to_d2(model_state)
    elif backbone == 'swin':
        released = swin_to_d2(model_state)
    else:
        released = to_d2({k: v for k, v in model_state.items()
                          if not k.startswith('backbone.')})
        ours = {k[len('backbone.'):]: v for k, v in model_state.items()
                if k.startswith('backbone.')}
        released.update(released_convnext_state_dict(ours) if backbone ==
                        'convnext' else {'backbone.' + k: v
                                         for k, v in ours.items()})
    num_classes = len(cfg.model.panoptic_head.loss_cls.class_weight) - 1
    # released row r is class r of the release; its values say which
    rows = torch.arange(num_classes + 1, dtype=torch.float32)
    released[PR + 'class_embed.weight'] = rows[:, None].repeat(1, 256)
    released[PR + 'class_embed.bias'] = rows.clone()
    released['criterion.empty_weight'] = torch.ones(num_classes + 1)

    state_dict, report = convert_d2_state_dict(released, backbone=backbone)
    metainfo = dataset_metainfo(cfg)
    moved = reorder_classes(state_dict, metainfo)
    check_against_model(state_dict, model_state, report)
    assert report.ok, report.format()
    assert 'class rows moved' in moved
    got = state_dict['panoptic_head.cls_embed.bias']
    expected = [_release_index(dataset, name) for name in metainfo['classes']]
    assert got[:-1].long().tolist() == expected
    assert got[-1] == num_classes  # no-object stays last
    assert state_dict['panoptic_head.cls_embed.weight'][:, 0].equal(got)
