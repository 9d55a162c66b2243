"""Test (evaluate) a checkpoint with an mmdet/mmseg config (mmdet's CLI).

    python tools/test.py CONFIG CHECKPOINT [--work-dir DIR] [--out PKL] \
        [--show-dir DIR] [--tta] [--cfg-options k=v ...] [--launcher {none,pytorch,slurm,mpi}]

``--tta`` evaluates the semantic task with the config's test-time augmentation
(``tta_model``, ``tta_pipeline``: scales x flips, per-class scores averaged, as
released); the release has no TTA for panoptic and instance segmentation, so a
config testing only those is refused.
"""
import argparse
import os
import os.path as osp

from mmengine.config import DictAction

import projects.oneformer  # noqa: F401  registers modules, torch.load allow-list
from projects.common import build_runner, load_config
from projects.oneformer.models import semantic_tta_config


def parse_args():
    parser = argparse.ArgumentParser(description='Test (and eval) a model')
    parser.add_argument('config', help='test config file path')
    parser.add_argument('checkpoint', help='checkpoint file')
    parser.add_argument('--work-dir', help='where evaluation metrics are saved')
    parser.add_argument('--out', help='dump predictions to a pickle file')
    parser.add_argument('--show', action='store_true', help='show predictions')
    parser.add_argument('--show-dir', help='save painted predictions here '
                        '(relative to the work dir)')
    parser.add_argument('--wait-time', type=float, default=2,
                        help='the interval of --show (s)')
    parser.add_argument('--tta', action='store_true',
                        help='semantic test-time augmentation (multi-scale + flip)')
    parser.add_argument('--cfg-options', nargs='+', action=DictAction,
                        help='override config entries, e.g. model.test_cfg.task=semantic')
    parser.add_argument('--launcher', default='none',
                        choices=['none', 'pytorch', 'slurm', 'mpi'])
    parser.add_argument('--local_rank', '--local-rank', type=int, default=0)
    args = parser.parse_args()
    os.environ.setdefault('LOCAL_RANK', str(args.local_rank))
    return args


def main():
    args = parse_args()
    cfg = load_config(args.config, args.cfg_options, args.work_dir,
                      args.launcher)
    cfg.load_from = args.checkpoint
    if args.tta:
        semantic_tta_config(cfg)
    if args.show or args.show_dir:
        hooks = cfg.default_hooks
        if 'visualization' not in hooks:
            raise RuntimeError('--show/--show-dir need default_hooks.visualization '
                               '(mmdet DetVisualizationHook) in the config')
        hooks.visualization.draw = True
        hooks.visualization.show = args.show
        hooks.visualization.wait_time = args.wait_time
        if args.show_dir:
            hooks.visualization.test_out_dir = args.show_dir
    runner = build_runner(cfg)
    if args.out is not None:
        if not args.out.endswith(('.pkl', '.pickle')):
            raise ValueError('--out must be a .pkl/.pickle file')
        from mmdet.evaluation import DumpDetResults
        runner.test_evaluator.metrics.append(
            DumpDetResults(out_file_path=osp.abspath(args.out)))
    runner.test()


if __name__ == '__main__':
    main()
