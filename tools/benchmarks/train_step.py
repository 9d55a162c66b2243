"""Training step of OneFormer vs mmdet's Mask2Former, each in a fresh process.

    python tools/benchmarks/train_step.py [--size 512] [--batch 2] [--queries 150] \
        [--things 4] [--warmup 1] [--steps 4] [--threads 2] [--profile]

One step is ``model.train_step(data, optim_wrapper)`` (data preprocessor, forward,
losses, backward, AdamW step) on the same batch: seeded random images with
``--things`` random thing instances each, turned into panoptic-task samples by the
project's own ``OneFormerTaskSampling`` + ``PackOneFormerInputs`` (targets, text list
and CLIP tokens), so both models get the same targets. Models: OneFormer R50 of
``--oneformer`` (text mapper and contrastive loss on, as in training) and the
Mask2Former-Joint baseline of ``--mask2former`` (mmdet's ``Mask2Former`` /
``Mask2FormerHead`` on the same R50 and pixel decoder), both with ``--queries``
queries and the configs' 150 ADE20K classes; random weights, nothing downloaded.
Optimisers are the configs' ``optim_wrapper`` (AdamW and its paramwise rules), in
fp32 (AMP is for GPUs).

Each model runs in its own subprocess (``--worker``), so the peak RSS
(``ru_maxrss``: imports, model, optimiser state and the step's activations) is its
own; both stay resident and take turns: ``--warmup`` untimed steps each, then
``--steps`` timed steps alternating in ABBA order (the speed of this machine type
drifts by up to a third over minutes, and a pair of adjacent steps sees the same
speed). Prints both models' median wall and CPU time (all threads), kernel time
and minor page faults per step, and the ratios OneFormer / Mask2Former, each the median over the step pairs (targets:
time <= 1.15, peak RSS <= 1.10); on a shared machine the CPU-time ratio is the one
to read. ``--profile`` adds one profiled step per model after the timed
ones (so it changes none of the numbers above): per component, the forward and
backward op time (a backward op is charged to the component whose forward op made
it), the activations saved for backward and the parameters with their gradient and
AdamW moments; and the top ops. Not a test: timings are noisy, compare ratios
within one run only.
"""
import argparse
import contextlib
import copy
import functools
import json
import os.path as osp
import resource
import statistics
import subprocess
import sys
import time
from collections import defaultdict

import numpy as np
import torch
from mmcv.transforms import Compose
from mmengine.config import Config
from mmengine.dataset import pseudo_collate
from mmengine.optim import build_optim_wrapper
from mmengine.registry import init_default_scope
from mmdet.registry import MODELS
from mmdet.structures.mask import BitmapMasks
from torch.profiler import ProfilerActivity, profile, record_function

# the tree this script is in, not an installed copy: a run from another
# worktree (a before / after comparison) measures that worktree's code
ROOT = osp.dirname(osp.dirname(osp.dirname(osp.abspath(__file__))))
sys.path.insert(0, ROOT)
import projects.oneformer  # noqa: F401
from projects.oneformer.datasets import OneFormerADE20KPanopticDataset
from projects.oneformer.datasets.transforms import (OneFormerTaskSampling,
                                                    PackOneFormerInputs)

CONFIGS = dict(
    oneformer='configs/oneformer/oneformer_r50_8xb2-160k_ade20k-512x512.py',
    mask2former='configs/mask2former/mask2former_r50_8xb2-160k_ade20k-joint.py')
NAMES = dict(oneformer='OneFormer', mask2former='Mask2Former')
TARGETS = dict(time=1.15, rss=1.10)
LABEL = '## '  # prefix of the profiler ranges that name components


def add_batch_arguments(parser, size: int = 512, queries: int = 150) -> None:
    """The options :func:`make_batch` and the models' query count read."""
    parser.add_argument('--size', type=int, default=size, help='image side')
    parser.add_argument('--batch', type=int, default=2, help='images per step')
    parser.add_argument('--queries', type=int, default=queries,
                        help='queries of both models (OneFormer: > 16, its '
                        'text contexts)')
    parser.add_argument('--things', type=int, default=4,
                        help='thing instances (targets) per image')


def parse_args():
    parser = argparse.ArgumentParser(description=__doc__.split('\n')[0])
    parser.add_argument('--oneformer', default=CONFIGS['oneformer'])
    parser.add_argument('--mask2former', default=CONFIGS['mask2former'])
    add_batch_arguments(parser)
    parser.add_argument('--warmup', type=int, default=1)
    parser.add_argument('--steps', type=int, default=4,
                        help='timed steps per model')
    parser.add_argument('--threads', type=int, default=2)
    parser.add_argument('--profile', action='store_true',
                        help='one more, profiled step per model')
    parser.add_argument('--worker', choices=sorted(CONFIGS),
                        help='internal: run one model, print JSON')
    return parser.parse_args()


def build(kind: str, args):
    """Model in train mode and its config's optimiser wrapper (fp32)."""
    cfg = model_config(kind, args)
    init_default_scope('mmdet')
    model = MODELS.build(cfg.model)
    model.init_weights()
    model.train()
    wrapper = optim_wrapper_config(cfg)
    return model, build_optim_wrapper(model, wrapper), wrapper


def model_config(kind: str, args) -> Config:
    """The config of ``kind`` offline (random backbone weights), with
    ``args.queries`` queries."""
    cfg = Config.fromfile(getattr(args, kind))
    cfg.model.backbone.init_cfg = None
    cfg.model.panoptic_head.num_queries = args.queries
    if kind == 'mask2former':
        cfg.model.test_cfg.max_per_image = args.queries
    return cfg


def optim_wrapper_config(cfg: Config, amp: bool = False):
    """The config's ``optim_wrapper``: with ``amp`` under AmpOptimWrapper as
    ``tools/train.py --amp`` sets it (fp16, dynamic loss scale), else in fp32
    (fp16 needs a GPU; a CPU trains in fp32)."""
    wrapper = copy.deepcopy(cfg.optim_wrapper)
    if amp:
        wrapper.type = 'AmpOptimWrapper'
        wrapper.loss_scale = 'dynamic'
    elif wrapper.type == 'AmpOptimWrapper':
        wrapper.type = 'OptimWrapper'
        wrapper.pop('loss_scale', None)
    return wrapper


def make_batch(args) -> dict:
    """``args.batch`` panoptic-task samples [3, S, S] uint8, each with
    ``args.things`` elliptic thing instances, through the training transforms;
    the same for every worker (seeded)."""
    rng = np.random.RandomState(0)
    meta = OneFormerADE20KPanopticDataset.METAINFO
    sampling = OneFormerTaskSampling(task='panoptic',
                                     num_texts=args.queries - 16)
    sampling.set_dataset_meta(meta)
    pipeline = Compose([sampling, PackOneFormerInputs()])
    size = args.size
    yy, xx = np.mgrid[:size, :size]
    samples = []
    for i in range(args.batch):
        masks, labels = [], []
        seg = np.full((size, size), 255, np.uint8)  # void: no stuff targets
        for _ in range(args.things):
            cy, cx = rng.uniform(0.2, 0.8, 2) * size
            ry, rx = rng.uniform(0.05, 0.25, 2) * size
            mask = ((yy - cy) / ry)**2 + ((xx - cx) / rx)**2 <= 1
            label = rng.randint(len(meta['thing_classes']))
            seg[mask] = label
            masks.append(mask)
            labels.append(label)
        samples.append(pipeline(dict(
            img=rng.randint(0, 256, (size, size, 3), dtype=np.uint8),
            img_id=i, img_path=f'random_{i}.jpg', img_shape=(size, size),
            ori_shape=(size, size), scale_factor=(1.0, 1.0),
            gt_masks=BitmapMasks(np.stack(masks).astype(np.uint8), size, size),
            gt_bboxes_labels=np.array(labels, np.int64),
            gt_ignore_flags=np.zeros(len(labels), bool), gt_seg_map=seg)))
    return pseudo_collate(samples)


def components(model, optim_wrapper) -> dict:
    """Component name -> modules or (object, method name) whose calls it
    covers. An op belongs to the innermost covering call."""
    head = model.panoptic_head
    init = getattr(head, 'query_initialiser', None)
    parts = {
        'data preprocessor': [model.data_preprocessor],
        'backbone': [model.backbone],
        'pixel decoder': [head.pixel_decoder],
        'task encoder': [getattr(head, 'task_encoder', None)],
        'query initialiser': [init],
        # its attention to every stride-4 position (a component of its own)
        'query initialiser cross-attn': [
            layer.cross_attn for layer in init.decoder.layers] if init else [],
        'decoder layers': list(head.transformer_decoder.layers),
        'prediction heads + attn masks': [(head, '_forward_head')],
        'gt preprocessing': [(head, 'preprocess_gt')],
        'matching + mask losses': [(head, 'loss_by_feat')],
        'text mapper': [getattr(head, 'text_mapper', None)],
        'contrastive loss': [getattr(head, 'loss_contrastive', None)],
        'optimiser step': [(optim_wrapper, 'step'),
                           (optim_wrapper, 'zero_grad')],
    }
    return {k: [m for m in v if m is not None] for k, v in parts.items()}


class Labeller:
    """Names components while active: a profiler range per call and, for the
    activations saved for backward (counted once per storage, parameters
    left out), the innermost component of the call that saved them."""

    def __init__(self, parts: dict, model):
        self.parts = parts
        self.stack = ['other']
        self.saved = defaultdict(int)
        self.seen = set()
        self.params = {p.data_ptr() for p in model.parameters()}

    def _enter(self, name: str):
        ctx = record_function(LABEL + name)
        ctx.__enter__()
        self.stack.append(name)
        return ctx

    def _exit(self, ctx):
        self.stack.pop()
        ctx.__exit__(None, None, None)

    def _pack(self, tensor):
        storage = tensor.untyped_storage()
        key = storage.data_ptr()
        if key not in self.seen and key not in self.params:
            self.seen.add(key)
            self.saved[self.stack[-1]] += storage.nbytes()
        return tensor

    @contextlib.contextmanager
    def __call__(self):
        handles, patched, open_ctx = [], [], {}
        for name, targets in self.parts.items():
            for target in targets:
                if isinstance(target, tuple):
                    obj, method = target
                    patched.append((obj, method))
                    setattr(obj, method, self._wrap(name, getattr(obj, method)))
                    continue

                def pre(module, inputs, name=name):
                    open_ctx.setdefault(id(module), []).append(self._enter(name))

                def post(module, inputs, output):
                    self._exit(open_ctx[id(module)].pop())

                handles += [target.register_forward_pre_hook(pre),
                            target.register_forward_hook(post)]
        try:
            with torch.autograd.graph.saved_tensors_hooks(self._pack,
                                                          lambda t: t):
                yield self
        finally:
            for handle in handles:
                handle.remove()
            for obj, method in patched:
                delattr(obj, method)  # back to the class's method

    def _wrap(self, name: str, fn):
        @functools.wraps(fn)
        def wrapped(*a, **kw):
            ctx = self._enter(name)
            try:
                return fn(*a, **kw)
            finally:
                self._exit(ctx)
        return wrapped


def breakdown(prof, labeller: Labeller, parts: dict, model) -> dict:
    """Per component: forward and backward CPU seconds, saved activations and
    parameters (MB incl. gradient and the two AdamW moments)."""
    fwd, bwd = defaultdict(float), defaultdict(float)
    by_seq = {}
    events = prof.events()

    def owner(event):
        while event is not None:
            if event.name.startswith(LABEL):
                return event.name[len(LABEL):]
            event = event.cpu_parent
        return 'other'

    backward = 'autograd::engine::evaluate_function'
    for e in events:
        if e.name.startswith(backward):
            if e.cpu_parent is None or not e.cpu_parent.name.startswith(
                    'autograd::engine'):
                bwd[e.sequence_nr] += e.cpu_time_total / 1e6
            continue
        if e.sequence_nr >= 0 and e.sequence_nr not in by_seq:
            by_seq[e.sequence_nr] = owner(e)
        if e.name.startswith(LABEL):
            # its own time: less the components called inside it
            fwd[e.name[len(LABEL):]] += e.cpu_time_total / 1e6
            outer = owner(e.cpu_parent)
            if outer != 'other':
                fwd[outer] -= e.cpu_time_total / 1e6
        elif e.cpu_parent is None:
            fwd['other'] += e.cpu_time_total / 1e6
    # a backward op belongs to the component whose forward op made its node
    bwd_by = defaultdict(float)
    for seq, seconds in bwd.items():
        bwd_by[by_seq.get(seq, 'other')] += seconds
    param_mb = defaultdict(float)
    owners = {}
    for name, targets in parts.items():
        for t in targets:
            if isinstance(t, torch.nn.Module):
                for p in t.parameters():
                    owners[id(p)] = name
    for p in model.parameters():
        if p.requires_grad:
            param_mb[owners.get(id(p), 'other')] += p.numel() * 16 / 2**20
    names = list(parts) + ['other']
    return {n: dict(fwd=fwd[n], bwd=bwd_by[n],
                    saved_mb=labeller.saved[n] / 2**20, param_mb=param_mb[n])
            for n in names}


def worker(kind: str, args) -> None:
    """One model in this process, driven over stdin/stdout: a JSON line with
    the model's facts once built and warmed up, then per ``step`` line the
    step's wall and CPU seconds, per ``profile`` line the profiled step's
    breakdown, and at ``quit`` the peak RSS."""
    torch.set_num_threads(args.threads)
    torch.manual_seed(0)
    model, optim_wrapper, wrapper_cfg = build(kind, args)
    batch = make_batch(args)
    head = model.panoptic_head
    info = dict(
        model=type(model).__name__, head=type(head).__name__,
        backbone=f'{type(model.backbone).__name__}{model.backbone.depth}',
        pixel_decoder=type(head.pixel_decoder).__name__,
        queries=head.num_queries, classes=head.num_classes,
        decoder_layers=head.num_transformer_decoder_layers,
        optimiser=f"{wrapper_cfg.type} {wrapper_cfg.optimizer.type} "
        f"clip_grad={wrapper_cfg.get('clip_grad')}",
        params_m=sum(p.numel() for p in model.parameters()
                     if p.requires_grad) / 1e6)

    def step() -> dict:
        data = copy.deepcopy(batch)  # the preprocessor writes into samples
        before = resource.getrusage(resource.RUSAGE_SELF)
        start, start_cpu = time.perf_counter(), time.process_time()
        model.train_step(data, optim_wrapper)
        wall, cpu = time.perf_counter() - start, time.process_time() - start_cpu
        after = resource.getrusage(resource.RUSAGE_SELF)
        return dict(wall=wall, cpu=cpu,
                    kernel=after.ru_stime - before.ru_stime,
                    faults=after.ru_minflt - before.ru_minflt)

    for _ in range(args.warmup):
        step()
    print(json.dumps(info), flush=True)
    for command in sys.stdin:
        command = command.strip()
        if command == 'step':
            out = step()
        elif command == 'profile':
            parts = components(model, optim_wrapper)
            labeller = Labeller(parts, model)
            data = copy.deepcopy(batch)
            with labeller(), profile(activities=[ProfilerActivity.CPU]) as prof:
                start = time.perf_counter()
                model.train_step(data, optim_wrapper)
                out = dict(profiled_step_s=time.perf_counter() - start)
            out['components'] = breakdown(prof, labeller, parts, model)
            out['top_ops'] = prof.key_averages().table(
                sort_by='self_cpu_time_total', row_limit=15,
                max_name_column_width=50)
        else:  # quit
            print(json.dumps(dict(peak_rss_gb=resource.getrusage(
                resource.RUSAGE_SELF).ru_maxrss / 2**20)), flush=True)
            return
        print(json.dumps(out), flush=True)


class Worker:
    """A fresh interpreter running :func:`worker` for one model (so its peak
    RSS is its own)."""

    def __init__(self, kind: str, argv):
        self.kind = kind
        # the worker runs this file, which puts its own tree first on sys.path
        self.proc = subprocess.Popen(
            [sys.executable, __file__, '--worker', kind] + argv,
            stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True)
        self.info = self._reply()

    def _reply(self) -> dict:
        """The worker's next JSON line (mm code may print other lines)."""
        for line in self.proc.stdout:
            if line.startswith('{'):
                return json.loads(line)
        sys.exit(f'{self.kind} worker failed (exit {self.proc.wait()}); '
                 'its stderr is above')

    def __call__(self, command: str) -> dict:
        self.proc.stdin.write(command + '\n')
        self.proc.stdin.flush()
        return self._reply()


def print_profile(res: dict):
    """Side-by-side component table of the two profiled steps."""
    one, ref = res['oneformer']['components'], res['mask2former']['components']
    zero = dict(fwd=0.0, bwd=0.0, saved_mb=0.0, param_mb=0.0)
    print('\nprofiled step per component: op seconds of forward (optimiser: its '
          'step) and backward, MB of activations saved for backward and of '
          'parameters + gradients + AdamW moments')
    cols = f'{"fwd":>6s} {"bwd":>6s} {"saved":>6s} {"param":>6s}'
    print(f'  {"":30s}   {"OneFormer":^27s}   {"Mask2Former":^27s}   '
          f'{"OneFormer - Mask2Former":^16s}')
    print(f'  {"component":30s} | {cols} | {cols} | {"s":>7s} {"MB":>7s}')
    rows = [(name, one[name], ref.get(name, zero)) for name in one]
    rows.append(('total', *({k: sum(r[k] for r in side.values()) for k in zero}
                            for side in (one, ref))))
    for name, a, b in rows:
        cells = [f'{r["fwd"]:6.2f} {r["bwd"]:6.2f} {r["saved_mb"]:6.0f} '
                 f'{r["param_mb"]:6.0f}' for r in (a, b)]
        extra_s = a['fwd'] + a['bwd'] - b['fwd'] - b['bwd']
        extra_mb = a['saved_mb'] + a['param_mb'] - b['saved_mb'] - b['param_mb']
        print(f'  {name:30s} | {cells[0]} | {cells[1]} | {extra_s:7.2f} '
              f'{extra_mb:7.0f}')
    for kind in ('oneformer', 'mask2former'):
        r = res[kind]
        print(f'\n{NAMES[kind]}: profiled step {r["profiled_step_s"]:.2f} s wall; '
              'top ops by self CPU time')
        print(r['top_ops'])


def main():
    args = parse_args()
    if args.worker:
        worker(args.worker, args)
        return
    kinds = ('oneformer', 'mask2former')
    # both models resident, each in its own process; their steps alternate
    # in ABBA order, so that a drift of the machine's speed (it lasts minutes
    # on a shared host) reaches both steps of a pair alike
    workers = {kind: Worker(kind, sys.argv[1:]) for kind in kinds}
    steps = {kind: [] for kind in kinds}
    for i in range(args.steps):
        for kind in kinds if i % 2 == 0 else kinds[::-1]:
            steps[kind].append(workers[kind]('step'))
    profiles = {kind: workers[kind]('profile') for kind in kinds} \
        if args.profile else {}
    res = {}
    for kind in kinds:
        r = dict(workers[kind].info, **workers[kind]('quit'),
                 **profiles.get(kind, {}))
        r['steps_s'] = [s['wall'] for s in steps[kind]]
        r['step_s'] = statistics.median(r['steps_s'])
        for key in ('cpu', 'kernel', 'faults'):
            r[f'{key}_s'] = statistics.median(s[key] for s in steps[kind])
        res[kind] = r
    print(f'training step: {args.batch} images of {args.size}x{args.size}, '
          f'{args.things} thing targets each (panoptic task), {args.queries} '
          f'queries, {args.threads} threads, {args.steps} steps per model after '
          f'{args.warmup} warm-up, alternating, each model in a fresh process')
    for kind, r in res.items():
        print(f'  {NAMES[kind]:11s}: {r["model"]} / {r["head"]}, {r["backbone"]}, '
              f'{r["pixel_decoder"]}, {r["queries"]} queries, {r["classes"]} '
              f'classes, {r["decoder_layers"]} decoder layers, '
              f'{r["params_m"]:.1f} M trainable parameters; {r["optimiser"]}')
    print(f'  {"model":11s} {"wall s/step":>11s} {"CPU s/step":>10s} '
          f'{"kernel s":>8s} {"faults":>7s} {"peak RSS GB":>11s}  '
          'wall s of each step')
    for kind, r in res.items():
        each = ' '.join(f'{t:.2f}' for t in r['steps_s'])
        print(f'  {NAMES[kind]:11s} {r["step_s"]:11.2f} {r["cpu_s"]:10.2f} '
              f'{r["kernel_s"]:8.2f} {r["faults_s"] / 1e3:6.0f}k '
              f'{r["peak_rss_gb"]:11.2f}  {each}')
    print('  (kernel s and faults: the CPU time spent in the kernel and the '
          'minor page faults per step, the median; glibc returns freed blocks '
          'over its mmap threshold, at most 32 MB, to the system, and the next '
          'one is paged in again)')
    for what, key, target in (('time per step (wall)', 'wall', 'time'),
                              ('time per step (CPU, all threads)', 'cpu',
                               'time')):
        ratios = [a[key] / b[key]
                  for a, b in zip(steps['oneformer'], steps['mask2former'])]
        ratio = statistics.median(ratios)
        met = 'met' if ratio <= TARGETS[target] else 'NOT met'
        each = ' '.join(f'{x:.2f}' for x in ratios)
        print(f'ratio OneFormer / Mask2Former, {what}: {ratio:.2f}, the median '
              f'of the step pairs {each} (target <= {TARGETS[target]:.2f}: '
              f'{met})')
    ratio = res['oneformer']['peak_rss_gb'] / res['mask2former']['peak_rss_gb']
    met = 'met' if ratio <= TARGETS['rss'] else 'NOT met'
    print(f'ratio OneFormer / Mask2Former, peak RSS: {ratio:.2f} '
          f'(target <= {TARGETS["rss"]:.2f}: {met})')
    print('(on a shared machine read the CPU-time ratio: wall time also '
          "counts other processes' load)")
    if args.profile:
        print_profile(res)


if __name__ == '__main__':
    main()
