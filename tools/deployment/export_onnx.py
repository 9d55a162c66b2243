"""Export a OneFormer (mmdet detector or mmseg segmentor) to one ONNX graph.

    python tools/deployment/export_onnx.py CONFIG CHECKPOINT --out model.onnx \
        [--shape H W] [--dynamic] [--check]

Inputs of the graph: ``images`` (normalised, padded [B, 3, H, W]) and, for the
mmdet model, ``tasks`` (task ids [B, T], 0 panoptic, 1 instance, 2 semantic).
Outputs: ``cls_logits`` [B*T, N, K+1] and ``mask_logits`` [B*T, N, H/4, W/4].
``CHECKPOINT`` may be ``none`` (random weights: for checking that a config
exports). ``--check`` runs the file in onnxruntime and prints the largest
difference from PyTorch on a random input.
"""
import argparse
import os.path as osp

import numpy as np
import torch
from mmengine.config import Config
from mmengine.registry import DefaultScope
from mmengine.runner import load_checkpoint

import projects.oneformer  # noqa: F401
from projects.common.converters.rules import dataset_metainfo
from projects.oneformer.deployment import (OPSET, export_graph, export_onnx,
                                           load_session)


def parse_args():
    parser = argparse.ArgumentParser(description=__doc__.split('\n')[0])
    parser.add_argument('config')
    parser.add_argument('checkpoint', help="checkpoint file, or 'none'")
    parser.add_argument('--out', required=True, help='the .onnx file')
    parser.add_argument('--shape', nargs=2, type=int, default=[512, 512],
                        metavar=('H', 'W'),
                        help='input size, multiples of 32 (default 512 512)')
    parser.add_argument('--dynamic', action='store_true',
                        help='free H and W (multiples of 32)')
    parser.add_argument('--batch-size', type=int, default=1)
    parser.add_argument('--opset', type=int, default=OPSET)
    parser.add_argument('--check', action='store_true',
                        help='compare onnxruntime with PyTorch once')
    return parser.parse_args()


def build(cfg: Config, checkpoint: str):
    """The config's model (no init_weights: nothing is downloaded) with the
    checkpoint loaded, and its dataset meta."""
    target = 'mmseg' if cfg.get('default_scope') == 'mmseg' else 'mmdet'
    registry = __import__(f'{target}.registry', fromlist=['MODELS']).MODELS
    with DefaultScope.overwrite_default_scope(target):
        model = registry.build(cfg.model)
    meta = None
    if checkpoint.lower() != 'none':
        meta = load_checkpoint(model, checkpoint, map_location='cpu',
                               strict=True).get('meta', {}).get('dataset_meta')
    if meta is None:
        meta = dataset_metainfo(cfg, target)
    return model.eval(), meta


def main():
    args = parse_args()
    cfg = Config.fromfile(args.config)
    model, meta = build(cfg, args.checkpoint)
    print(f'exporting {type(model).__name__} of {osp.basename(args.config)} '
          f"({'dynamic H, W; example' if args.dynamic else 'fixed'} "
          f'{args.shape[0]}x{args.shape[1]}, opset {args.opset}) ...',
          flush=True)
    info = export_onnx(model, args.out, tuple(args.shape), args.dynamic,
                       batch_size=args.batch_size, opset=args.opset,
                       dataset_meta=meta and {
                           k: list(v) if isinstance(v, tuple) else v
                           for k, v in meta.items()})
    print(f"{args.out}: {info['megabytes']:.1f} MB, exported in "
          f"{info['seconds']:.1f} s")
    if args.check:
        graph, names = export_graph(model)
        feeds = dict(images=torch.randn(args.batch_size, 3, *args.shape))
        if 'tasks' in names:
            feeds['tasks'] = torch.arange(3).repeat(args.batch_size, 1)
        with torch.no_grad():
            expected = graph(*feeds.values())
        got = load_session(args.out).run(
            None, {k: v.numpy() for k, v in feeds.items()})
        for name, ref, out in zip(('cls_logits', 'mask_logits'), expected,
                                  got):
            print(f'{name} {list(out.shape)}: max |PyTorch| '
                  f'{np.abs(ref.numpy()).max():.3g}, max |onnxruntime - '
                  f'PyTorch| {np.abs(out - ref.numpy()).max():.2e}')


if __name__ == '__main__':
    main()
