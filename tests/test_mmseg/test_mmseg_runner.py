"""Training and evaluation in mmseg: its Runner and its tools/test.py."""
import os
import re
import subprocess
import sys
from pathlib import Path

import mmseg
import numpy as np
import pytest
import torch
from mmcv import imwrite
from mmengine.runner import Runner

from tests.test_mmseg.tiny import R50_ADE20K, tiny_config, tiny_options

TOOLS = Path(mmseg.__file__).parent / '.mim/tools'
NUM_DECODER_LAYERS = 2
SKY = 2  # 'sky' after reduce_zero_label (label 3 in the PNGs)


def write_ade20k_fixture(root: Path, num_imgs: int = 2) -> None:
    """ADE20K layout: images/<split>/*.jpg and annotations/<split>/*.png,
    label 0 = 'other' (ignored with reduce_zero_label), 1-150 = classes."""
    rng = np.random.default_rng(0)
    for split in ('training', 'validation'):
        for i in range(num_imgs):
            label = np.zeros((48, 64), np.uint8)
            label[:24] = SKY + 1
            label[24:, :40] = 7 + i  # road / bed
            label[30:40, 45:60] = 13  # person
            colours = rng.integers(0, 256, (256, 3), dtype=np.uint8)
            img = colours[label] + rng.integers(
                0, 20, (48, 64, 3), dtype=np.uint8)
            imwrite(img, str(root / f'images/{split}/{i}.jpg'))
            imwrite(label, str(root / f'annotations/{split}/{i}.png'))


def data_options(root: Path) -> dict:
    """Dotted overrides: fixture paths, 64 x 64 crops, 2 iterations."""
    options = {
        'train_dataloader.batch_size': 2,
        'train_dataloader.dataset.pipeline.2.scale': (256, 64),
        'train_dataloader.dataset.pipeline.3.crop_size': (64, 64),
        'model.data_preprocessor.size': (64, 64),
        'train_cfg.max_iters': 2,
        'train_cfg.val_interval': 2,
        # lr > 0 in both iterations
        'param_scheduler.0.end': 3,
        'default_hooks.checkpoint.interval': 2,
        'default_hooks.logger.interval': 1,
    }
    for loader in ('train_dataloader', 'val_dataloader', 'test_dataloader'):
        options.update({
            f'{loader}.dataset.data_root': str(root),
            f'{loader}.num_workers': 0,
            f'{loader}.persistent_workers': False,
        })
        if loader != 'train_dataloader':
            # short side 64 instead of 512
            options[f'{loader}.dataset.pipeline.1.scale'] = (256, 64)
    return options


@pytest.fixture(scope='module')
def trained(tmp_path_factory):
    """Two iterations of the tiny R50 ADE20K config, then validation."""
    root = tmp_path_factory.mktemp('ade')
    write_ade20k_fixture(root)
    options = data_options(root)
    cfg = tiny_config(num_decoder_layers=NUM_DECODER_LAYERS)
    cfg.merge_from_dict(options)
    cfg.work_dir = str(root / 'work_dir')
    runner = Runner.from_cfg(cfg)
    runner.train()
    losses = {
        key: runner.message_hub.get_scalar(key).current()
        for key in runner.message_hub.log_scalars
        if key.startswith('train/decode.')
    }
    return dict(
        runner=runner,
        options=options,
        losses=losses,
        metrics=runner.val(),
        checkpoint=Path(cfg.work_dir) / 'iter_2.pth')


def test_train_and_evaluate_with_runner(trained):
    losses = trained['losses']
    for name in ('loss_cls', 'loss_mask', 'loss_dice', 'loss_contrastive',
                 'd0.loss_cls', f'd{NUM_DECODER_LAYERS - 1}.loss_dice'):
        assert np.isfinite(losses[f'train/decode.{name}']), name
    metrics = trained['metrics']
    assert {'aAcc', 'mIoU', 'mAcc'} <= set(metrics)
    assert 0 <= metrics['mIoU'] <= 100
    assert trained['checkpoint'].exists()


def _cli(value) -> str:
    """A value as mmengine's DictAction parses it back."""
    if isinstance(value, (list, tuple)):
        inner = ','.join(_cli(v) for v in value)
        return f'[{inner}]' if isinstance(value, list) else f'({inner})'
    return str(value)


def test_mmseg_test_tool(trained, tmp_path):
    """mmseg's own tools/test.py evaluates the real config (tiny overrides
    on the command line) with a checkpoint of the trained model: same mIoU
    as the Runner gets."""
    # After two iterations nothing is right (mIoU 0); a classifier biased to
    # 'sky' gives a non-zero mIoU that only the checkpoint's weights give.
    checkpoint = torch.load(trained['checkpoint'], weights_only=False)
    checkpoint['state_dict']['decode_head.cls_embed.bias'][SKY] += 20
    path = tmp_path / 'sky.pth'
    torch.save(checkpoint, path)
    runner = trained['runner']
    runner.load_checkpoint(str(path))
    expected = runner.val()['mIoU']
    assert expected > 0
    options = {
        **tiny_options(num_decoder_layers=NUM_DECODER_LAYERS),
        **trained['options']
    }
    cmd = [
        sys.executable,
        str(TOOLS / 'test.py'),
        str(R50_ADE20K),
        str(path), '--work-dir',
        str(tmp_path), '--cfg-options',
        *[f'{key}={_cli(value)}' for key, value in options.items()]
    ]
    env = dict(os.environ, OMP_NUM_THREADS='1')
    proc = subprocess.run(
        cmd,
        cwd=R50_ADE20K.parents[2],
        env=env,
        capture_output=True,
        text=True,
        timeout=300)
    out = proc.stdout + proc.stderr
    assert proc.returncode == 0, out[-3000:]
    miou = re.findall(r'mIoU: ([\d.]+)', out)
    assert miou, out[-3000:]
    print(f"mIoU: Runner {expected}, tools/test.py {miou[-1]}")
    assert float(miou[-1]) == pytest.approx(expected, abs=0.01)
