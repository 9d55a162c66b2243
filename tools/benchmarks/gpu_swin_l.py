"""Swin-L OneFormer beside mmdet's Mask2Former on a GPU: inference and AMP training.

    python tools/benchmarks/gpu_swin_l.py [--size 640] [--queries 250] [--images 8] \
        [--repeats 5] [--iters 20] [--warmup 3] [--batch 2] [--out FILE.json]
    bash tools/benchmarks/gpu_check.sh run    (a fresh GPU machine: mmcv's CUDA ops first)

Models, random weights (nothing downloaded): OneFormer Swin-L of ``--oneformer``
(ADE20K 640x640, 250 queries) and the Mask2Former-Joint baseline of ``--mask2former``
(mmdet's ``Mask2Former`` / ``Mask2FormerHead``) with OneFormer's backbone, pixel
decoder inputs and ``--queries`` put in, so both have the same backbone and queries.

Inference: images per second of ``predict`` on ``--images`` random images, one at a
time (as the test loop runs), the median of ``--repeats`` after a warm-up, in fp32 and
under bf16 autocast with the pixel decoder in fp32. OneFormer's head keeps its pixel
decoder in fp32 itself (as released); Mask2Former's is wrapped alike, so both compare
like for like. OneFormer: the panoptic task alone, then the three tasks in one pass;
Mask2Former: panoptic alone, then its three outputs (one pass makes all three).

Training: ``--iters`` steps of ``train_step`` (forward, losses, backward, AdamW) on
``train_step.py``'s batch (``--batch`` images, ``--things`` thing targets each, the
same for both models) under mmengine's ``AmpOptimWrapper`` (fp16, dynamic loss scale:
what ``tools/train.py --amp`` sets), each config's optimiser otherwise; the median
s/iter after ``--warmup`` steps and the peak GPU memory (``max_memory_allocated``).

Prints each side's numbers and the ratios OneFormer / Mask2Former; a measurement that
fails prints its error and the others still run. ``--device cpu`` is for smoke runs
(bf16 autocast on the CPU, training in fp32). Not a test: compare within one run.
"""
import argparse
import copy
import json
import logging
import os.path as osp
import statistics
import sys
import time
import traceback

import torch
from mmengine.config import Config
from mmengine.logging import MMLogger
from mmengine.optim import build_optim_wrapper
from mmengine.registry import init_default_scope
from mmdet.registry import MODELS

# the tree this script is in, not an installed copy (as the other benchmarks)
ROOT = osp.dirname(osp.dirname(osp.dirname(osp.abspath(__file__))))
sys.path.insert(0, ROOT)
import projects.oneformer  # noqa: F401,E402
from projects.oneformer.models import TASKS  # noqa: E402

sys.path.insert(0, osp.dirname(osp.abspath(__file__)))
from multitask_inference import make_batch as test_batch  # noqa: E402
from train_step import (add_batch_arguments, make_batch,  # noqa: E402
                        model_config, optim_wrapper_config)

CONFIGS = dict(
    oneformer='configs/oneformer/oneformer_swin-l_8xb2-160k_ade20k-640x640.py',
    mask2former='configs/mask2former/mask2former_r50_8xb2-160k_ade20k-joint.py')
NAMES = dict(oneformer='OneFormer', mask2former='Mask2Former')


def parse_args(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.split('\n')[0])
    parser.add_argument('--oneformer', default=CONFIGS['oneformer'])
    parser.add_argument('--mask2former', default=CONFIGS['mask2former'],
                        help='its backbone and queries are replaced by '
                        "OneFormer's")
    parser.add_argument('--device', default='cuda')
    # --size, --batch (training images per step), --queries, --things
    add_batch_arguments(parser, size=640, queries=250)
    parser.add_argument('--images', type=int, default=8,
                        help='images per inference repeat')
    parser.add_argument('--repeats', type=int, default=5)
    parser.add_argument('--iters', type=int, default=20,
                        help='timed training steps per model')
    parser.add_argument('--warmup', type=int, default=3,
                        help='untimed training steps first')
    parser.add_argument('--out', help='also write the results as JSON here')
    return parser.parse_args(argv)


def swin_config(kind: str, args) -> Config:
    """``train_step.py``'s config of ``kind``; Mask2Former's with OneFormer's
    backbone and pixel-decoder inputs."""
    cfg = model_config(kind, args)
    if kind == 'mask2former':
        one = model_config('oneformer', args)
        cfg.model.backbone = one.model.backbone
        cfg.model.panoptic_head.in_channels = one.model.panoptic_head.in_channels
    return cfg


def fp32_pixel_decoder(model) -> None:
    """Run ``model``'s pixel decoder outside autocast on fp32 features, as
    OneFormer's head does with its own (Mask2Former's head does not)."""
    decoder = model.panoptic_head.pixel_decoder
    forward = decoder.forward

    def run(feats, *rest, **kwargs):
        with torch.autocast(feats[0].device.type, enabled=False):
            return forward([f.float() for f in feats], *rest, **kwargs)

    decoder.forward = run


def sync(device: str) -> None:
    if device.startswith('cuda'):
        torch.cuda.synchronize()


def test_images(model, num: int, size: int) -> list:
    """``num`` batches of one image each: multitask_inference.py's
    preprocessed batch of ``num`` random images, split."""
    data = test_batch(model, num, size)
    return [dict(inputs=data['inputs'][i:i + 1], data_samples=[sample])
            for i, sample in enumerate(data['data_samples'])]


def set_outputs(kind: str, model, tasks) -> None:
    """OneFormer: the tasks of one pass; Mask2Former: which of its three
    outputs the fusion head makes."""
    if kind == 'oneformer':
        model.test_cfg['tasks'] = list(tasks)
        return
    # the detector's test_cfg and the fusion head's copy, which the rule reads
    for cfg in (model.test_cfg, model.panoptic_fusion_head.test_cfg):
        for task in TASKS:
            cfg[f'{task}_on'] = task in tasks


def images_per_second(model, batches, repeats: int, device: str,
                      bf16: bool) -> float:
    """Median over ``repeats`` of len(batches) / seconds, after one warm-up
    pass over the batches."""
    rates = []
    with torch.no_grad(), torch.autocast(device.split(':')[0],
                                         dtype=torch.bfloat16, enabled=bf16):
        for i in range(repeats + 1):
            sync(device)
            start = time.perf_counter()
            for data in batches:
                model(**data, mode='predict')
            sync(device)
            if i:  # the first pass warms up (cuDNN / kernel selection)
                rates.append(len(batches) / (time.perf_counter() - start))
    return statistics.median(rates)


def training(model, cfg: Config, args) -> dict:
    """Median s/iter of ``args.iters`` steps after ``args.warmup``, and the
    peak GPU memory of those steps."""
    model.train()
    wrapper_cfg = optim_wrapper_config(cfg, amp=args.device.startswith('cuda'))
    optim_wrapper = build_optim_wrapper(model, wrapper_cfg)
    batch = make_batch(args)
    cuda = args.device.startswith('cuda')
    seconds = []
    for i in range(args.warmup + args.iters):
        if cuda and i == args.warmup:
            torch.cuda.reset_peak_memory_stats()
        data = copy.deepcopy(batch)  # the preprocessor writes into samples
        sync(args.device)
        start = time.perf_counter()
        model.train_step(data, optim_wrapper)
        sync(args.device)
        if i >= args.warmup:
            seconds.append(time.perf_counter() - start)
    return dict(optim_wrapper=f'{wrapper_cfg.type} '
                f'{wrapper_cfg.optimizer.type} clip_grad='
                f'{wrapper_cfg.get("clip_grad")}',
                s_per_iter=statistics.median(seconds),
                peak_gb=torch.cuda.max_memory_allocated() / 2**30
                if cuda else None)


def attempt(results: dict, key: str, fn) -> None:
    """results[key] = fn(), or its error (printed), so that one failed
    measurement leaves the others."""
    try:
        results[key] = fn()
    except Exception as error:  # noqa: BLE001 (reported, not hidden)
        traceback.print_exc()
        results[key] = f'failed: {type(error).__name__}: {error}'.splitlines()[0]
    value = results[key]
    if isinstance(value, dict):
        value = ', '.join(f'{k} {v:.3f}' if isinstance(v, float) else f'{k} {v}'
                          for k, v in value.items())
    elif isinstance(value, float):
        value = f'{value:.3f}'
    print(f'  {key}: {value}', flush=True)


def measure(kind: str, args) -> dict:
    cfg = swin_config(kind, args)
    init_default_scope(cfg.get('default_scope', 'mmdet'))
    torch.manual_seed(0)
    model = MODELS.build(cfg.model)
    model.init_weights()
    model.to(args.device)
    if kind == 'mask2former':
        fp32_pixel_decoder(model)
    head = model.panoptic_head
    results = dict(
        model=f'{type(model).__name__} / {type(head).__name__}, '
        f'{type(model.backbone).__name__}, {type(head.pixel_decoder).__name__}, '
        f'{head.num_queries} queries, {head.num_classes} classes',
        params_m=sum(p.numel() for p in model.parameters()) / 1e6)
    print(f'{NAMES[kind]}: {results["model"]}, {results["params_m"]:.1f} M '
          'parameters', flush=True)
    model.eval()
    batches = test_images(model, args.images, args.size)
    one_pass = 'three tasks' if kind == 'oneformer' else 'three outputs'
    for outputs, tasks in (('panoptic', ['panoptic']), (one_pass, TASKS)):
        for precision in ('fp32', 'bf16'):
            set_outputs(kind, model, tasks)
            attempt(results, f'img/s {outputs} {precision}',
                    lambda: images_per_second(model, batches, args.repeats,
                                              args.device, precision == 'bf16'))
    del batches
    attempt(results, 'training', lambda: training(model, cfg, args))
    del model
    if args.device.startswith('cuda'):
        torch.cuda.empty_cache()
    return results


def main(argv=None):
    args = parse_args(argv)
    # mmengine logs every parameter's init and optimiser options at INFO
    MMLogger.get_current_instance().setLevel(logging.ERROR)
    if args.device.startswith('cuda'):
        if not torch.cuda.is_available():
            sys.exit('no CUDA device: run on a GPU machine, or pass --device cpu '
                     'for a smoke run')
        import mmcv
        from mmcv.ops import get_compiling_cuda_version
        # 'not available': mmcv's ops were compiled without CUDA, and the
        # deformable attention runs its PyTorch path (with one warning)
        device = (f'{torch.cuda.get_device_name()}, torch {torch.__version__}, '
                  f'CUDA {torch.version.cuda}, mmcv {mmcv.__version__} (CUDA '
                  f'ops: {get_compiling_cuda_version()})')
    else:
        device = f'{args.device}, torch {torch.__version__}'
    print(f'{device}; {args.size}x{args.size}, {args.queries} queries; '
          f'inference: {args.images} images one at a time, median of '
          f'{args.repeats}; training: batch {args.batch}, {args.iters} steps '
          f'after {args.warmup}', flush=True)
    results = dict(device=device, args=vars(args))
    for kind in ('oneformer', 'mask2former'):
        results[kind] = measure(kind, args)
    one, ref = results['oneformer'], results['mask2former']
    print('\nOneFormer / Mask2Former (inference: images per second, so < 1 '
          'is slower; training: s/iter and peak memory, so > 1 is more)')
    for key_one, key_ref in (
            ('img/s panoptic fp32', 'img/s panoptic fp32'),
            ('img/s panoptic bf16', 'img/s panoptic bf16'),
            ('img/s three tasks fp32', 'img/s three outputs fp32'),
            ('img/s three tasks bf16', 'img/s three outputs bf16')):
        a, b = one.get(key_one), ref.get(key_ref)
        if isinstance(a, float) and isinstance(b, float):
            print(f'  {key_one:24s} {a:8.2f} vs {b:8.2f}  ratio {a / b:.2f}')
    a, b = one.get('training'), ref.get('training')
    if isinstance(a, dict) and isinstance(b, dict):
        print(f'  {"training s/iter":24s} {a["s_per_iter"]:8.3f} vs '
              f'{b["s_per_iter"]:8.3f}  ratio {a["s_per_iter"] / b["s_per_iter"]:.2f}')
        if a['peak_gb'] is not None:
            print(f'  {"training peak GB":24s} {a["peak_gb"]:8.2f} vs '
                  f'{b["peak_gb"]:8.2f}  ratio {a["peak_gb"] / b["peak_gb"]:.2f}')
    if args.out:
        with open(args.out, 'w') as f:
            json.dump(results, f, indent=1)
    return results


if __name__ == '__main__':
    main()
