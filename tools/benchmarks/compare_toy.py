"""OneFormer vs the paper's Mask2Former baselines on the bundled toy dataset, one command.

Trains, at equal iterations and the same toy scale (ResNet-18 from scratch, 64-d,
20 queries, 3 decoder layers, same data, optimizer and schedule):

* OneFormer, trained once jointly (configs/oneformer_r18_toy.py);
* Mask2Former-Joint, trained once jointly without task conditioning (paper Table 7;
  configs/mask2former/mask2former_r18_toy-joint.py);
* three Mask2Formers trained individually on panoptic, instance and semantic targets
  (paper Tables 1-3; configs/mask2former/mask2former_r18_toy-{task}.py);
* with --maskformer, also MaskFormer (configs/maskformer/maskformer_r18_toy-panoptic.py).

Each model is evaluated with PQ, mask AP and mIoU in one test run. The table has one
row per training recipe: the individually trained Mask2Formers are scored each on its
own task and counted together (training time and parameters of three models), as in
paper Table 1. The toy dataset (tools/misc/make_toy_dataset.py) is generated if
missing. Results: <work-dir>/comparison.{json,md}, and each model's logs and
checkpoint under <work-dir>/<model>/.

    python tools/benchmarks/compare_toy.py [--iters 400] [--work-dir DIR] [--maskformer]
"""
import argparse
import json
import os
import os.path as osp
import subprocess
import sys
import time
from typing import Dict, List, Optional

import torch
from mmengine.config import Config
from terminaltables import AsciiTable

ROOT = osp.dirname(osp.dirname(osp.dirname(osp.abspath(__file__))))
sys.path.insert(0, ROOT)
import projects.oneformer  # noqa: E402,F401  registers modules
from projects.common import build_runner, load_config  # noqa: E402
from projects.oneformer.engine import task_metrics  # noqa: E402
from projects.oneformer.tasks import TASK_SPECS, TASKS  # noqa: E402

TOY_ROOT = 'data/toy/'
# the headline metric of each task, as the one-run table names it
METRICS = {task: spec.metric for task, spec in TASK_SPECS.items()}
# model name -> config; the training recipe (table row) it belongs to
MODELS = {
    'OneFormer': 'configs/oneformer_r18_toy.py',
    'Mask2Former-Joint': 'configs/mask2former/mask2former_r18_toy-joint.py',
    'Mask2Former-Panoptic': 'configs/mask2former/mask2former_r18_toy-panoptic.py',
    'Mask2Former-Instance': 'configs/mask2former/mask2former_r18_toy-instance.py',
    'Mask2Former-Semantic': 'configs/mask2former/mask2former_r18_toy-semantic.py',
    'MaskFormer': 'configs/maskformer/maskformer_r18_toy-panoptic.py',
}
INDIVIDUAL = {task: f'Mask2Former-{task.capitalize()}' for task in TASKS}
# modules a trained OneFormer does not need at inference
TRAINING_ONLY = ('text_mapper', 'loss_contrastive')


def parse_args():
    parser = argparse.ArgumentParser(description=__doc__.split('\n')[0])
    parser.add_argument('--iters', type=int, default=400,
                        help='training iterations of every model')
    parser.add_argument('--work-dir', default='work_dirs/compare_toy')
    parser.add_argument('--data-root', default=TOY_ROOT)
    parser.add_argument('--maskformer', action='store_true',
                        help='also train and evaluate MaskFormer')
    parser.add_argument('--threads', type=int, default=os.cpu_count(),
                        help='torch CPU threads')
    return parser.parse_args()


def ensure_toy_dataset(data_root: str) -> None:
    if osp.exists(osp.join(data_root, 'annotations', 'panoptic_val.json')):
        return
    print(f'[compare] generating the toy dataset in {data_root}')
    subprocess.run([sys.executable, osp.join(ROOT, 'tools/misc/make_toy_dataset.py'),
                    data_root], check=True)


def toy_config(config: str, data_root: str, work_dir: str, iters: int) -> Config:
    """A toy config (path relative to the repo) reading ``data_root``, trained for
    ``iters`` iterations and evaluated once, by the test run, after training."""
    cfg = load_config(osp.join(ROOT, config), dict(data_root=data_root),
                      work_dir, 'none')
    cfg.experiment_name = osp.basename(work_dir.rstrip('/'))
    cfg.train_cfg.max_iters = iters
    cfg.train_cfg.val_interval = iters + 1
    cfg.param_scheduler.end = iters
    cfg.default_hooks.checkpoint.interval = iters
    cfg.default_hooks.logger.interval = min(50, iters)
    cfg.custom_hooks = list(cfg.get('custom_hooks', [])) + [
        dict(type='TrainProgressBarHook', interval=10)]
    if cfg.model.type == 'OneFormer':  # every task token on every image
        cfg.model.test_cfg.tasks = list(TASKS)
    return cfg


def count_params(model: torch.nn.Module) -> Dict[str, int]:
    """Parameters trained and parameters needed at inference."""
    train = sum(p.numel() for p in model.parameters())
    extra = sum(p.numel() for name, p in model.named_parameters()
                if any(part in TRAINING_ONLY for part in name.split('.')))
    return dict(train=train, test=train - extra)


def run_model(name: str, cfg: Config) -> dict:
    """Train and test one model; its three metrics, times and sizes."""
    runner = build_runner(cfg)
    start = time.time()
    runner.train()
    train_s = time.time() - start
    start = time.time()
    metrics = runner.test()
    test_s = time.time() - start
    table = task_metrics(metrics)
    scores = {metric: table[task][metric] for task, metric in METRICS.items()}
    print(f'[compare] {name}: {scores} (training {train_s / 60:.1f} min)')
    return dict(scores, train_s=round(train_s, 1), test_s=round(test_s, 1),
                params=count_params(runner.model))


def summarise(results: Dict[str, dict]) -> List[dict]:
    """One row per training recipe (the individual Mask2Formers combined)."""
    rows = []
    for name in ('OneFormer', 'Mask2Former-Joint', 'MaskFormer'):
        if name in results:
            r = results[name]
            rows.append(dict(model=name, trainings=1,
                             **{m: r[m] for m in METRICS.values()},
                             train_s=r['train_s'], params=r['params']['test']))
    if all(n in results for n in INDIVIDUAL.values()):
        parts = [results[INDIVIDUAL[task]] for task in TASKS]
        row = dict(model='Mask2Former (3 individual)', trainings=3)
        for task, metric in METRICS.items():
            row[metric] = results[INDIVIDUAL[task]][metric]  # own task only
        row.update(train_s=round(sum(r['train_s'] for r in parts), 1),
                   params=sum(r['params']['test'] for r in parts))
        rows.insert(1, row)
    return rows


def format_table(rows: List[dict], markdown: bool = False) -> str:
    header = ['model', 'trainings', 'PQ', 'AP', 'mIoU', 'training time (min)',
              'params (M)']
    body = [[r['model'], str(r['trainings'])] +
            [f'{r[m]:.2f}' for m in ('PQ', 'AP', 'mIoU')] +
            [f"{r['train_s'] / 60:.1f}", f"{r['params'] / 1e6:.2f}"] for r in rows]
    if not markdown:
        return AsciiTable([header] + body).table
    lines = [header, ['---'] * len(header)] + body
    return '\n'.join('| ' + ' | '.join(line) + ' |' for line in lines)


def compare(iters: int, work_dir: str, data_root: str = TOY_ROOT,
            models: Optional[List[str]] = None) -> dict:
    """Train and evaluate ``models`` (names of MODELS); write and return the report."""
    ensure_toy_dataset(data_root)
    models = models or [n for n in MODELS if n != 'MaskFormer']
    start = time.time()
    results = {}
    for name in models:
        print(f'[compare] {name}: training {iters} iterations')
        cfg = toy_config(MODELS[name], data_root, osp.join(work_dir, name), iters)
        results[name] = run_model(name, cfg)
    rows = summarise(results)
    report = dict(iters=iters, wall_s=round(time.time() - start, 1),
                  threads=torch.get_num_threads(), table=rows, models=results)
    os.makedirs(work_dir, exist_ok=True)
    with open(osp.join(work_dir, 'comparison.json'), 'w') as f:
        json.dump(report, f, indent=2)
    with open(osp.join(work_dir, 'comparison.md'), 'w') as f:
        f.write(f'Toy dataset, {iters} iterations per model, '
                f'{report["threads"]} CPU threads, wall time '
                f'{report["wall_s"] / 60:.1f} min.\n\n'
                + format_table(rows, markdown=True) + '\n')
    return report


def main():
    args = parse_args()
    torch.set_num_threads(args.threads)
    models = [n for n in MODELS if args.maskformer or n != 'MaskFormer']
    report = compare(args.iters, args.work_dir, args.data_root, models)
    print(f'\nToy comparison: {args.iters} iterations per model, '
          f'{report["threads"]} threads (PQ/AP/mIoU in %, params at inference)')
    print(format_table(report['table']))
    detail = [['model', 'PQ', 'AP', 'mIoU', 'train (s)', 'test (s)']] + [
        [name, *(f'{r[m]:.2f}' for m in ('PQ', 'AP', 'mIoU')), str(r['train_s']),
         str(r['test_s'])] for name, r in report['models'].items()]
    print('Every model on every task (one test run each):')
    print(AsciiTable(detail).table)
    print(f'[compare] wall time {report["wall_s"] / 60:.1f} min; '
          f'{args.work_dir}/comparison.json and comparison.md')


if __name__ == '__main__':
    main()
