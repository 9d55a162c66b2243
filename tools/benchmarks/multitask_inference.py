"""Cost of evaluating three tasks in one pass vs one task, measured in the same run.

OneFormer's released code evaluates each task in its own run, so three tasks cost three
single-task passes (ratio 3.0). Here the backbone and pixel decoder run once per image
and only the transformer decoder and post-processing run per task.

    python tools/benchmarks/multitask_inference.py [--config C] [--size 512] \
        [--images 4] [--repeats 3] [--threads 2] [--parts]

Prints the median wall time, CPU time (this process, all threads) and minor page
faults (memory the allocator took from the system again) per image of each
single-task pass and of the three-task pass, and ratio = three-task / single-task
(for each single task and their mean); the CPU-time ratio is the one to read on a
shared machine. The passes alternate within every repeat, so a slow spell
falls on all of them. Random weights (seeded: how many queries the rules keep is the
post-processing workload, printed too; no checkpoint needed); random images. Not a
test: timings are noisy, compare ratios within one run only.

It also counts each pass's matmul and convolution FLOPs (``torch.utils.flop_counter``)
and prints their three-task / mean single-task ratio: the time ratio if every op ran at
the same speed. What the time ratio has above it is per-task work that computes less
per second than the shared part (attention, resizing, thresholds, copies).

``--parts`` then repeats the passes with a CPU-time and page-fault counter around
each part (backbone, pixel decoder, query initialiser, masked decoder,
post-processing) and prints them per pass and the three-task pass's excess over the
mean single task: what each per-task part adds, apart from the shared part's
run-to-run drift, which moves the ratio too.
"""
import argparse
import contextlib
import os.path as osp
import resource
import statistics
import sys
import time

import torch
from mmengine.config import Config
from torch.utils.flop_counter import FlopCounterMode
from mmengine.registry import init_default_scope
from mmdet.registry import MODELS
from mmdet.structures import DetDataSample

# the tree this script is in, not an installed copy: a run from another
# worktree (a before / after comparison) measures that worktree's code
ROOT = osp.dirname(osp.dirname(osp.dirname(osp.abspath(__file__))))
sys.path.insert(0, ROOT)
import projects.oneformer  # noqa: F401
from projects.oneformer.models import TASKS

DEFAULT_CONFIG = 'configs/_base_/models/oneformer_r50.py'


def parse_args():
    parser = argparse.ArgumentParser(description=__doc__.split('\n')[0])
    parser.add_argument('--config', default=DEFAULT_CONFIG,
                        help='model config (the released R50 architecture)')
    parser.add_argument('--size', type=int, default=512, help='image side')
    parser.add_argument('--images', type=int, default=4, help='images per pass')
    parser.add_argument('--repeats', type=int, default=3)
    parser.add_argument('--threads', type=int, default=2)
    parser.add_argument('--parts', action='store_true',
                        help='then, in more repeats of the passes, the CPU '
                        'time and minor faults of each part of a pass')
    return parser.parse_args()


def build_model(config: str):
    cfg = Config.fromfile(config)
    init_default_scope(cfg.get('default_scope', 'mmdet'))
    cfg.model.backbone.init_cfg = None  # offline: random weights
    cfg.model.panoptic_head.text_mapper = None  # training only
    cfg.model.panoptic_head.loss_contrastive = None
    # the same random weights in every run: how many queries the rules keep
    # (the post-processing workload) depends on them
    torch.manual_seed(0)
    # default (random) init; inference only (and FlopCounterMode's hooks)
    return MODELS.build(cfg.model).eval().requires_grad_(False)


def make_batch(model, num: int, size: int):
    g = torch.Generator().manual_seed(0)
    inputs = [torch.randint(0, 256, (3, size, size), generator=g, dtype=torch.uint8)
              for _ in range(num)]
    samples = [DetDataSample(metainfo=dict(img_shape=(size, size), ori_shape=(size, size),
                                           scale_factor=(1.0, 1.0)))
               for _ in range(num)]
    return model.data_preprocessor(dict(inputs=inputs, data_samples=samples), False)


def usage() -> tuple:
    """This process's CPU seconds (all threads) and minor faults so far."""
    return time.process_time(), resource.getrusage(
        resource.RUSAGE_SELF).ru_minflt


def time_passes(model, data, passes: dict, repeats: int) -> dict:
    """Median (wall, CPU seconds, minor page faults) of one ``predict`` of the batch for each
    pass's tasks (None: only the backbone and pixel decoder). The passes
    alternate within every repeat, so a slow spell of a shared machine
    falls on all of them alike."""
    def run(tasks):
        if tasks is None:  # what the task passes share
            model.panoptic_head.pixel_decoder(
                model.extract_feat(data['inputs']))
            return
        model.test_cfg['tasks'] = list(tasks)
        model(**data, mode='predict')

    times = {name: ([], [], []) for name in passes}
    with torch.no_grad():
        for tasks in passes.values():
            run(tasks)  # warm-up
        for _ in range(repeats):
            for name, tasks in passes.items():
                start, before = time.perf_counter(), usage()
                run(tasks)
                times[name][0].append(time.perf_counter() - start)
                for series, a, b in zip(times[name][1:], usage(), before):
                    series.append(a - b)
    return {name: tuple(statistics.median(x) for x in t)
            for name, t in times.items()}


def _parts(model) -> dict:
    """The parts of a pass: modules whose ``forward`` is timed, and the
    fusion head, whose ``predict`` is (see :func:`part_counters`)."""
    head = model.panoptic_head
    return {'backbone': model.backbone, 'pixel decoder': head.pixel_decoder,
            'query initialiser': head.query_initialiser,
            'masked decoder': head.transformer_decoder,
            'post-processing': model.panoptic_fusion_head}


@contextlib.contextmanager
def part_counters(model, totals: dict):
    """Adds each part's CPU seconds and minor faults to ``totals[part]``
    ([cpu, faults]) while the context is open."""
    def counted(name, call):
        def run(*args, **kwargs):
            cpu, faults = usage()
            try:
                return call(*args, **kwargs)
            finally:
                now = usage()
                totals[name][0] += now[0] - cpu
                totals[name][1] += now[1] - faults
        return run

    undo = []
    for name, part in _parts(model).items():
        method = 'predict' if name == 'post-processing' else 'forward'
        undo.append((part, method, part.__dict__.get(method)))
        setattr(part, method, counted(name, getattr(part, method)))
    try:
        yield
    finally:
        for part, method, own in undo:
            if own is None:
                delattr(part, method)
            else:
                setattr(part, method, own)


def time_parts(model, data, passes: dict, repeats: int) -> dict:
    """Median CPU seconds and minor faults of each part of one ``predict``
    of the batch, and of the whole pass ('total'), for each pass's tasks;
    the passes alternate as in :func:`time_passes`."""
    samples = {name: [] for name in passes}
    with torch.no_grad():
        for _ in range(repeats):
            for name, tasks in passes.items():
                model.test_cfg['tasks'] = list(tasks)
                totals = {part: [0., 0] for part in _parts(model)}
                with part_counters(model, totals):
                    before = usage()
                    model(**data, mode='predict')
                    totals['total'] = [a - b for a, b in zip(usage(), before)]
                samples[name].append(totals)
    return {name: {part: tuple(statistics.median(s[part][k] for s in runs)
                               for k in range(2)) for part in runs[0]}
            for name, runs in samples.items()}


def print_parts(parts: dict, num_images: int) -> None:
    names = list(next(iter(parts.values())))
    print('per part, CPU ms per image (minor faults per image, thousands), '
          'the median of each:')
    print('  ' + f'{"pass":12s}' + ''.join(f'{n:>19s}' for n in names))
    rows = dict(parts)
    rows['3-task - mean'] = {n: tuple(
        parts['joint'][n][k] - statistics.mean(parts[t][n][k] for t in TASKS)
        for k in range(2)) for n in names}
    for name, row in rows.items():
        print('  ' + f'{name:12s}' + ''.join(
            f'{row[n][0] / num_images * 1e3:11.0f} ({row[n][1] / num_images / 1e3:4.0f}k)'
            for n in names))
    print('  (total: the whole predict, also the data preprocessor, the task '
          'tokens and the final masks; "3-task - mean": the three-task pass '
          'minus the mean single-task pass)')


def pass_gflops(model, data, passes: dict) -> dict:
    """Matmul and convolution GFLOP of one ``predict`` of the batch for
    each pass's tasks."""
    gflops = {}
    with torch.no_grad():
        for name, tasks in passes.items():
            model.test_cfg['tasks'] = list(tasks)
            with FlopCounterMode(display=False) as counter:
                model(**data, mode='predict')
            gflops[name] = counter.get_total_flops() / 1e9
    return gflops


def main():
    args = parse_args()
    torch.set_num_threads(args.threads)
    model = build_model(args.config)
    data = make_batch(model, args.images, args.size)
    print(f'{args.config}: {args.images} images of {args.size}x{args.size}, '
          f'{model.panoptic_head.num_queries} queries, {args.threads} threads, '
          f'median of {args.repeats}, the passes alternating')
    times = time_passes(
        model, data,
        dict(**{task: [task] for task in TASKS}, joint=TASKS, shared=None),
        args.repeats)
    single = {task: times[task] for task in TASKS}
    joint, shared = times['joint'], times['shared'][1]
    n = args.images
    print(f'  {"pass":22s} {"wall s/img":>10s} {"CPU s/img":>10s} {"faults/img":>10s} '
          f'{"3-task/this (CPU)":>18s}')
    for task, (wall, cpu, faults) in single.items():
        print(f'  single-task {task:10s} {wall / n:10.3f} {cpu / n:10.3f} '
              f'{faults / n / 1e3:9.0f}k {joint[1] / cpu:18.2f}')
    print(f'  {"three-task":22s} {joint[0] / n:10.3f} {joint[1] / n:10.3f} '
          f'{joint[2] / n / 1e3:9.0f}k')
    print(f'  shared backbone + pixel decoder: {shared / n:.3f} CPU s/img')
    for name, k in (('wall', 0), ('CPU', 1)):
        mean_single = statistics.mean(v[k] for v in single.values())
        print(f'ratio three-task / single-task ({name} time, mean of the three '
              f'single tasks): {joint[k] / mean_single:.3f}')
    gflops = pass_gflops(model, data,
                         dict(**{task: [task] for task in TASKS}, joint=TASKS))
    mean_single = statistics.mean(gflops[task] for task in TASKS)
    print(f'matmul/conv GFLOP per image: ' + ', '.join(
        f'{name} {gflops[name] / n:.1f}' for name in (*TASKS, 'joint'))
        + f'; ratio three-task / mean single-task {gflops["joint"] / mean_single:.3f} '
        '(the time ratio if every op ran at one speed)')
    spread = max(v[1] for v in single.values()) / min(v[1] for v in single.values())
    print(f'slowest / fastest single task (CPU time): {spread:.3f} (target <= 1.20)')
    print('target <= 1.30; three separate single-task runs (the released way) '
          'cost 3.00 by construction')
    model.test_cfg['tasks'] = list(TASKS)
    with torch.no_grad():
        first = model(**data, mode='predict')[0]
    segments = first.pred_panoptic_seg.sem_seg.unique()
    void = model.panoptic_fusion_head.num_classes
    print(f'post-processing workload (image 0): '
          f'{int((segments != void).sum())} panoptic segments, '
          f'{len(first.pred_instances)} instance masks, '
          f'{model.panoptic_head.num_queries} semantic masks')
    if args.parts:
        print_parts(time_parts(
            model, data, dict(**{task: [task] for task in TASKS}, joint=TASKS),
            args.repeats), n)


if __name__ == '__main__':
    main()
