"""onnxruntime CPU latency vs PyTorch eager for the same exported graph.

    python tools/benchmarks/onnx_latency.py [--config C] [--shape 512 512] \
        [--tasks 1] [--threads 2] [--repeats 5] [--keep model.onnx]

Builds the config's model with random weights (nothing is downloaded), exports
``OneFormerGraph`` (images and task ids -> final logits) at the fixed shape,
checks that onnxruntime's logits match PyTorch's, then times both on the same
input, one after the other in this process, with the same thread count:
median wall time of ``--repeats`` runs after one warm-up each. Prints
ratio = onnxruntime / eager. Not a test: compare ratios within one run only.
"""
import argparse
import os
import os.path as osp
import statistics
import sys
import tempfile
import time

import numpy as np
import torch
from mmengine.config import Config
from mmengine.registry import init_default_scope

# the tree this script is in, not an installed copy: a run from another
# worktree (a before / after comparison) measures that worktree's code
ROOT = osp.dirname(osp.dirname(osp.dirname(osp.abspath(__file__))))
sys.path.insert(0, ROOT)
import projects.oneformer  # noqa: F401
from mmdet.registry import MODELS
from projects.oneformer.deployment import (OneFormerGraph, export_onnx,
                                           load_session)

DEFAULT_CONFIG = 'configs/oneformer/oneformer_r50_8xb2-160k_ade20k-512x512.py'


def parse_args():
    parser = argparse.ArgumentParser(description=__doc__.split('\n')[0])
    parser.add_argument('--config', default=DEFAULT_CONFIG)
    parser.add_argument('--shape', nargs=2, type=int, default=[512, 512])
    parser.add_argument('--tasks', type=int, default=1, choices=[1, 2, 3],
                        help='tasks per image (T)')
    parser.add_argument('--threads', type=int, default=2)
    parser.add_argument('--repeats', type=int, default=5)
    parser.add_argument('--keep', help='save the exported file here')
    return parser.parse_args()


def median_seconds(fn, repeats: int) -> float:
    fn()  # warm-up
    times = []
    for _ in range(repeats):
        start = time.perf_counter()
        fn()
        times.append(time.perf_counter() - start)
    return statistics.median(times)


def main():
    args = parse_args()
    torch.set_num_threads(args.threads)
    cfg = Config.fromfile(args.config)
    init_default_scope('mmdet')
    cfg.model.backbone.init_cfg = None  # offline: random weights
    cfg.model.panoptic_head.text_mapper = None  # training only
    cfg.model.panoptic_head.loss_contrastive = None
    model = MODELS.build(cfg.model).eval()
    graph = OneFormerGraph(model)
    out = args.keep or osp.join(tempfile.mkdtemp(), 'model.onnx')
    info = export_onnx(model, out, tuple(args.shape), num_tasks=max(
        args.tasks, 2))
    print(f"exported {osp.basename(args.config)} at {args.shape[0]}x"
          f"{args.shape[1]}: {info['megabytes']:.1f} MB in "
          f"{info['seconds']:.1f} s")
    images = torch.randn(1, 3, *args.shape, generator=torch.Generator().manual_seed(0))
    tasks = torch.arange(args.tasks)[None]
    session = load_session(out, args.threads)
    feeds = dict(images=images.numpy(), tasks=tasks.numpy())

    def eager():
        with torch.no_grad():
            return graph(images, tasks)

    expected = eager()
    got = session.run(None, feeds)
    for name, g, e in zip(('cls', 'mask'), got, expected):
        print(f'parity, {name} logits: max |eager| {e.abs().max():.3g}, '
              f'max |onnxruntime - eager| {np.abs(g - e.numpy()).max():.2e}')
    t_eager = median_seconds(eager, args.repeats)
    t_ort = median_seconds(lambda: session.run(None, feeds), args.repeats)
    print(f'{args.threads} threads, T={args.tasks}, median of {args.repeats}: '
          f'PyTorch eager {t_eager:.3f} s, onnxruntime {t_ort:.3f} s, '
          f'ratio {t_ort / t_eager:.2f}x (target <= 0.80x)')
    if not args.keep:
        os.remove(out)


if __name__ == '__main__':
    main()
