"""Metric overhead of the one-run test (PQ + mask AP + mIoU) vs inference, per image.

    python tools/benchmarks/evaluation.py [--images 8] [--size 512] [--threads 2] \
        [--model-config C] [--checkpoint CKPT] [--data-root DIR] [--no-oracle] \
        [--profile {model,oracle}]

Runs the one-run test loop by hand, as mmengine's ``TestLoop`` does per batch:
``model.test_step`` on a batch of 1 (data preprocessor + forward of the three task
tokens + post-processing), then ``Evaluator.process`` on its outputs with the toy
config's evaluator (mmdet's ``CocoPanopticMetric``, ``CocoMetric(metric='segm')``
and ``SemSegMetric``), and ``Evaluator.evaluate`` once at the end. Data:
``--images`` val images of the bundled toy world (tools/misc/make_toy_dataset.py,
real COCO-panoptic files) at ``--size`` px, generated into a temporary folder
unless ``--data-root`` already holds them. Model: the released R50 (150 queries)
at the toy class counts, random weights unless ``--checkpoint`` (nothing is
downloaded).

Random weights give the metrics a light, degenerate workload (no panoptic segment
passes the thresholds, few or empty instance masks), so a second evaluator also
scores an oracle workload per image, the heaviest a trained model gives: the
ground-truth panoptic and semantic maps as predictions and as many instance masks
as the model's top-k keeps (``test_cfg.max_per_image``, 150): the ground-truth
things, then random discs with lower scores (PQ, AP and mIoU are then 100).

Prints the workload, the median per-image wall time of inference and of each
metric's ``process``, plus its ``evaluate`` divided by the images, and
overhead = metric / inference for both workloads (target <= 15 %), all measured
in this run. Checks the values: the same predictions also go through the
project's ``PerDatasetEvaluator`` (each metric wrapped in a ``DatasetMetric``) and
the one-run table (``task_metrics``), which must give exactly the plain mmdet
metrics' values. ``--profile model|oracle`` adds where the metric time of those
predictions goes (cProfile; its overhead then inflates their times). Not a test:
timings are noisy, compare within one run only.
"""
import argparse
import contextlib
import copy
import cProfile
import importlib.util
import io
import os.path as osp
import pstats
import statistics
import sys
import tempfile
import time
from collections import defaultdict

import mmcv
import numpy as np
import torch
from mmengine.config import Config
from mmengine.evaluator import Evaluator
from mmengine.logging import MMLogger
from mmengine.registry import init_default_scope
from mmengine.runner import Runner, load_checkpoint
from mmengine.structures import InstanceData, PixelData
from panopticapi.utils import rgb2id

# the tree this script is in, not an installed copy: a run from another
# worktree (a before / after comparison) measures that worktree's code
ROOT = osp.dirname(osp.dirname(osp.dirname(osp.abspath(__file__))))
sys.path.insert(0, ROOT)
import projects.oneformer  # noqa: F401  registers modules
from mmdet.evaluation.functional import INSTANCE_OFFSET
from mmdet.registry import MODELS
from mmdet.structures import DetDataSample
from mmdet.structures.mask import mask2bbox
from projects.oneformer.engine import (PerDatasetEvaluator, format_task_metrics,
                                       task_metrics)

DATA_CONFIG = 'configs/oneformer_r18_toy.py'
MODEL_CONFIG = 'configs/oneformer/oneformer_r50_8xb2-160k_ade20k-512x512.py'
TARGET = 15.0  # % of inference time


def parse_args():
    parser = argparse.ArgumentParser(description=__doc__.split('\n')[0])
    parser.add_argument('--data-config', default=DATA_CONFIG,
                        help='dataset + evaluator config (the one-run test)')
    parser.add_argument('--model-config', default=MODEL_CONFIG,
                        help='model config (the released R50, 150 queries)')
    parser.add_argument('--checkpoint', help='weights (default: random, seeded)')
    parser.add_argument('--seed', type=int, default=0, help='random weights seed')
    parser.add_argument('--images', type=int, default=8, help='val images')
    parser.add_argument('--size', type=int, default=512, help='image side')
    parser.add_argument('--threads', type=int, default=2)
    parser.add_argument('--data-root', help='toy dataset folder (generated there '
                        'if missing; default: a temporary folder)')
    parser.add_argument('--no-oracle', action='store_true',
                        help='skip the oracle workload (see above)')
    parser.add_argument('--profile', choices=['model', 'oracle'],
                        help='print where the metric time of these predictions '
                        'goes (cProfile)')
    return parser.parse_args()


def ensure_toy_dataset(root: str, images: int, size: int) -> None:
    """Write ``images`` val images of ``size`` px under ``root`` unless there."""
    if osp.exists(osp.join(root, 'annotations', 'panoptic_val.json')):
        return
    path = osp.join(ROOT, 'tools/misc/make_toy_dataset.py')  # a script, no package
    spec = importlib.util.spec_from_file_location('make_toy_dataset', path)
    tool = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(tool)
    tool.make_toy_dataset(root, num_train=0, num_val=images, size=size)


def build_config(args) -> Config:
    """The data config's test dataloader + evaluator on ``--data-root`` at
    ``--size``, with the model config's model at the data config's class counts."""
    cfg = Config.fromfile(osp.join(ROOT, args.data_config))
    dataset = cfg.test_dataloader.dataset
    dataset.update(data_root=args.data_root, indices=args.images)
    for step in dataset.pipeline:
        if step.type == 'Resize':  # the test scale: the image size here
            step.scale = (args.size, args.size)
    for metric in cfg.test_evaluator:
        for key in ('ann_file', 'seg_prefix'):
            if key in metric:
                metric[key] = osp.join(args.data_root,
                                       osp.relpath(metric[key], cfg.data_root))

    model = Config.fromfile(osp.join(ROOT, args.model_config)).model
    things, stuff = cfg.num_things_classes, cfg.num_stuff_classes
    head = model.panoptic_head
    head.update(num_things_classes=things, num_stuff_classes=stuff)
    head.loss_cls.class_weight = [1.0] * (things + stuff) + [0.1]
    head.text_mapper = None  # training only
    head.loss_contrastive = None
    model.panoptic_fusion_head.update(num_things_classes=things,
                                      num_stuff_classes=stuff)
    model.backbone.init_cfg = None  # offline: random weights
    cfg.model = model
    return cfg


def time_calls(obj, name: str, seconds: list) -> None:
    """Make ``obj.<name>(...)`` append its wall seconds to ``seconds``."""
    fn = getattr(obj, name)

    def timed(*args, **kwargs):
        start = time.perf_counter()
        out = fn(*args, **kwargs)
        seconds.append(time.perf_counter() - start)
        return out

    setattr(obj, name, timed)


def workload(sample, info: dict, num_classes: int) -> dict:
    """What the metrics get from one image: its prediction and its ground
    truth (``info``: the dataset's data info)."""
    pan = sample.pred_panoptic_seg.sem_seg.unique()
    masks = sample.pred_instances.masks  # [N, H, W] bool
    return dict(
        pan_segments=int((pan % INSTANCE_OFFSET != num_classes).sum()),
        gt_segments=len(info['segments_info']),
        instances=len(masks),
        mask_area=round(100 * masks.float().mean().item()) if len(masks) else 0,
        gt_instances=sum(s['is_thing'] for s in info['segments_info']),
        mask_shape=tuple(masks.shape[-2:]))


def oracle_sample(output, info: dict, meta: dict, max_instances: int, seed: int):
    """A trained model's heaviest workload for the metrics, for one image:
    ``output``'s metainfo and ground truth, with the ground truth's panoptic and
    semantic maps as predictions and ``max_instances`` instance masks (the
    ground truth things, score 1, then random discs, scores < 0.9: the model's
    top-k, ``test_cfg.max_per_image``, keeps that many)."""
    num_classes, num_things = len(meta['classes']), len(meta['thing_classes'])
    ids = rgb2id(mmcv.imread(info['seg_map_path'], channel_order='rgb'))
    pan = np.full(ids.shape, num_classes, np.int64)  # VOID
    masks, labels = [], []
    for segment in info['segments_info']:
        mask = ids == segment['id']
        if segment['is_thing']:
            masks.append(mask)
            labels.append(segment['category'])
            pan[mask] = segment['category'] + len(masks) * INSTANCE_OFFSET
        else:
            pan[mask] = segment['category']
    rng = np.random.RandomState(seed)
    ys, xs = np.mgrid[:ids.shape[0], :ids.shape[1]]
    scores = [1.0] * len(masks)
    while len(masks) < max_instances:
        cy, cx = rng.randint(ids.shape[0]), rng.randint(ids.shape[1])
        radius = rng.randint(8, max(9, min(ids.shape) // 4))
        masks.append((ys - cy) ** 2 + (xs - cx) ** 2 < radius ** 2)
        labels.append(rng.randint(num_things))
        scores.append(0.9 * rng.rand())
    sample = DetDataSample(metainfo=output.metainfo)
    sample.gt_sem_seg = output.gt_sem_seg
    semantic = output.gt_sem_seg.sem_seg.clone()
    semantic[semantic == 255] = 0  # ignored pixels: any label
    sample.pred_sem_seg = PixelData(sem_seg=semantic)
    sample.pred_panoptic_seg = PixelData(sem_seg=torch.from_numpy(pan)[None])
    masks = torch.from_numpy(np.stack(masks))
    sample.pred_instances = InstanceData(
        masks=masks, labels=torch.tensor(labels), scores=torch.tensor(scores),
        bboxes=mask2bbox(masks))
    return sample


class Workload:
    """One prediction source through the plain evaluator (timed per metric)
    and, untimed, through the project's ``PerDatasetEvaluator``."""

    def __init__(self, metrics: list, meta: dict, dataset: str) -> None:
        quiet = io.StringIO()  # pycocotools prints as it loads the json files
        with contextlib.redirect_stdout(quiet):
            # the one-run test's evaluator, as the runner builds it
            self.evaluator = Evaluator(copy.deepcopy(metrics))
            self.wrapped = PerDatasetEvaluator({dataset: copy.deepcopy(metrics)})
        self.evaluator.dataset_meta = self.wrapped.dataset_meta = meta
        self.names = [type(m).__name__ for m in self.evaluator.metrics]
        self.process = defaultdict(list)
        self.evaluate = defaultdict(list)
        for metric, name in zip(self.evaluator.metrics, self.names):
            time_calls(metric, 'process', self.process[name])
            time_calls(metric, 'evaluate', self.evaluate[name])
        self.all_process, self.all_process_cpu, self.shapes = [], [], []
        self.all_evaluate = self.all_evaluate_cpu = 0.0
        self.values = self.wrapped_values = None

    def add(self, outputs: list, batch: dict, info: dict, num_classes: int,
            profile=None) -> None:
        self.shapes.append(workload(outputs[0], info, num_classes))
        copies = copy.deepcopy(outputs)  # the metrics change them in place
        with profiling(profile):
            start, start_cpu = time.perf_counter(), time.process_time()
            self.evaluator.process(outputs, batch)  # what TestLoop.run_iter calls
            self.all_process.append(time.perf_counter() - start)
            self.all_process_cpu.append(time.process_time() - start_cpu)
        self.wrapped.process(copies, batch)

    def finish(self, size: int, profile=None) -> None:
        with profiling(profile):
            start, start_cpu = time.perf_counter(), time.process_time()
            self.values = self.evaluator.evaluate(size)
            self.all_evaluate = time.perf_counter() - start
            self.all_evaluate_cpu = time.process_time() - start_cpu
        self.wrapped_values = self.wrapped.evaluate(size)

    def rows(self, images: int) -> list:
        """(label, seconds per image) of each step, the total last."""
        median = statistics.median
        rows = [(f'{name}.process', median(self.process[name]))
                for name in self.names]
        rows.append(('Evaluator.process (all, with to_dict)',
                     median(self.all_process)))
        rows += [(f'{name}.evaluate / {images}', self.evaluate[name][0] / images)
                 for name in self.names]
        rows.append(('metric: Evaluator.process + evaluate / N',
                     median(self.all_process) + self.all_evaluate / images))
        return rows

    def cpu_seconds(self, images: int) -> float:
        """CPU seconds per image of the total (``rows``' last)."""
        return statistics.median(self.all_process_cpu) + self.all_evaluate_cpu / images


@contextlib.contextmanager
def profiling(profile):
    """Profile the block when ``profile`` (a ``cProfile.Profile``) is given."""
    if profile is not None:
        profile.enable()
    try:
        yield
    finally:
        if profile is not None:
            profile.disable()


def run(model, loader, workloads: dict, profiles: dict) -> dict:
    """The test loop: inference, then each workload's evaluators on the model's
    outputs or on the oracle's; ``evaluate`` at the end. ``profiles``: workload
    -> ``cProfile.Profile`` of its metric time. Returns the inference and
    data-loading seconds (wall, CPU) per image."""
    dataset = loader.dataset
    num_classes = len(dataset.metainfo['classes'])
    times = defaultdict(list)
    with torch.no_grad():
        model.test_step(next(iter(loader)))  # warm-up
        loaded = time.perf_counter()
        for i, batch in enumerate(loader):
            times['loading'].append(time.perf_counter() - loaded)
            start, start_cpu = time.perf_counter(), time.process_time()
            outputs = model.test_step(batch)
            times['inference'].append(time.perf_counter() - start)
            times['inference_cpu'].append(time.process_time() - start_cpu)
            info = dataset.get_data_info(i)
            if 'oracle' in workloads:
                oracle = [oracle_sample(outputs[0], info, dataset.metainfo,
                                        model.test_cfg.max_per_image, i)]
                workloads['oracle'].add(oracle, batch, info, num_classes,
                                        profiles.get('oracle'))
            workloads['model'].add(outputs, batch, info, num_classes,
                                   profiles.get('model'))
            loaded = time.perf_counter()
    for source, scored in workloads.items():
        scored.finish(len(dataset), profiles.get(source))
    return times


def print_workload(label: str, shapes: list) -> None:
    """Median and range of :func:`workload` over the images."""
    def spread(key):
        values = [s[key] for s in shapes]
        return f'{statistics.median(values):g} ({min(values)}-{max(values)})'

    height, width = shapes[0]['mask_shape']
    print(f"{label}: panoptic segments {spread('pan_segments')} (ground truth "
          f"{spread('gt_segments')}); instances {spread('instances')} of "
          f"{height}x{width} masks covering {spread('mask_area')} % of the "
          f"image (ground truth {spread('gt_instances')}); one semantic map")


def print_timings(times: dict, workloads: dict, images: int) -> None:
    """The step table (ms and % of inference per workload) and the overheads."""
    median = statistics.median
    inference = median(times['inference'])
    columns = list(workloads)
    header = ''.join(f' {name + " ms":>12s} {"%":>6s}' for name in columns)
    print(f'  {"median per image, wall time":42s}{header}')
    print(f'  {"inference: test_step (3 tasks)":42s} {1000 * inference:12.1f}')
    print(f'  {"data loading (pipeline; not counted)":42s} '
          f"{1000 * median(times['loading']):12.1f}")
    table = [w.rows(images) for w in workloads.values()]
    for i, (label, _) in enumerate(table[0]):
        cells = ''.join(f' {1000 * rows[i][1]:12.1f} {100 * rows[i][1] / inference:6.1f}'
                        for rows in table)
        print(f'  {label:42s}{cells}')
    inference_cpu = median(times['inference_cpu'])
    print(f'CPU time (this process, all threads): inference {inference_cpu:.3f} s/img; '
          + ', '.join(f'metric ({name}) {1000 * w.cpu_seconds(images):.1f} ms/img = '
                      f'{100 * w.cpu_seconds(images) / inference_cpu:.1f} %'
                      for name, w in workloads.items()))
    for name, rows in zip(columns, table):
        metric = rows[-1][1]
        print(f'overhead ({name} predictions) = metric / inference = '
              f'{1000 * metric:.1f} ms / {inference:.3f} s = '
              f'{100 * metric / inference:.1f} % (wall time; target <= {TARGET:.0f} %)')


def same_value(a, b) -> bool:
    """Equal, or both NaN (a metric's value for a class without samples)."""
    return a == b or (a != a and b != b)


def check_values(values: dict, wrapped_values: dict, name: str) -> None:
    """The project's wrappers must give mmdet's values exactly."""
    differ = [k for k in values
              if not same_value(wrapped_values.get(f'{name}/{k}'), values[k])]
    differ += [k for k in wrapped_values if k[len(name) + 1:] not in values]
    table = task_metrics(values)
    same_table = table == task_metrics(wrapped_values, name)
    if not differ and same_table:
        print(f'metric values: identical ({len(values)} values of the plain mmdet '
              f"metrics = PerDatasetEvaluator's '{name}/...' values; the same "
              'one-run table)')
    else:
        print(f'metric values: DIFFERENT {differ}; same one-run table: {same_table}')
    print(format_task_metrics(table))


def main():
    args = parse_args()
    torch.set_num_threads(args.threads)
    # the metrics log tables at INFO level: keep the output to this report
    MMLogger.get_instance('evaluation_benchmark', log_level='WARNING')
    init_default_scope('mmdet')
    tmp = None
    if args.data_root is None:
        tmp = tempfile.TemporaryDirectory()
        args.data_root = tmp.name
    ensure_toy_dataset(args.data_root, args.images, args.size)
    cfg = build_config(args)

    torch.manual_seed(args.seed)
    model = MODELS.build(cfg.model).eval()  # default (random) init
    if args.checkpoint:
        load_checkpoint(model, args.checkpoint, map_location='cpu')
    with contextlib.redirect_stdout(io.StringIO()):  # pycocotools' loading logs
        loader = Runner.build_dataloader(cfg.test_dataloader)
    meta, name = loader.dataset.metainfo, loader.dataset.name
    workloads = {source: Workload(cfg.test_evaluator, meta, name)
                 for source in ('model', 'oracle')[:1 if args.no_oracle else 2]}
    profiles = {args.profile: cProfile.Profile()} if args.profile in workloads else {}

    weights = args.checkpoint or f'random weights (seed {args.seed})'
    print(f'data: {args.data_config} test split, {len(loader.dataset)} images of '
          f'{args.size}x{args.size} in {args.data_root}; model: {args.model_config} '
          f"with {len(meta['classes'])} classes, {model.panoptic_head.num_queries} "
          f'queries, {weights}; tasks {model.test_cfg.tasks}; {args.threads} threads')
    print('metrics: ' + ', '.join(
        f'{type(m).__module__}.{type(m).__name__}'
        for m in workloads['model'].evaluator.metrics))
    with contextlib.redirect_stdout(io.StringIO()):  # pycocotools' summaries
        times = run(model, loader, workloads, profiles)

    print('workload per image, median (min-max):')
    print_workload('  model', workloads['model'].shapes)
    if all(s['pan_segments'] == 0 for s in workloads['model'].shapes):
        print('    no panoptic segment passed the thresholds (random weights?): '
              'the PQ workload is an all-VOID map per image')
    if 'oracle' in workloads:
        print_workload('  oracle (ground truth + random discs up to the top-k)',
                       workloads['oracle'].shapes)
    print_timings(times, workloads, len(loader.dataset))
    for source, w in workloads.items():
        print(f'{source} predictions:')
        check_values(w.values, w.wrapped_values, name)
    for source, profile in profiles.items():
        text = io.StringIO()
        pstats.Stats(profile, stream=text).sort_stats('cumulative').print_stats(30)
        print(f'where the metric time goes ({source} predictions, '
              f'{len(loader.dataset)} images, Evaluator.process + evaluate; '
              'cumulative):')
        print(text.getvalue())
    if tmp is not None:
        tmp.cleanup()


if __name__ == '__main__':
    main()
