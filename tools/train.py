"""Train a model with an mmdet/mmseg config (mmdet's CLI).

    python tools/train.py CONFIG [--work-dir DIR] [--amp] [--resume [CKPT]] \
        [--finetune] [--cfg-options k=v ...] [--launcher {none,pytorch,slurm,mpi}]

``--finetune`` (or ``finetune = True`` in the config) starts from ``load_from``
with the classifier trained anew when its class count differs (a warning names
the tensors left out). When stdout is a terminal, a progress bar with ETA
(``TrainProgressBarHook``) is added unless the config has one.
"""
import argparse
import os

import torch
from mmengine.config import DictAction

import projects.oneformer  # noqa: F401  registers modules, torch.load allow-list
from projects.common import (add_progress_bar_for_terminal, build_runner,
                             load_config)
from projects.common.resume import resume_checkpoint
from projects.oneformer.models.strict_loading import enable_finetune


def parse_args():
    parser = argparse.ArgumentParser(description='Train a segmentor')
    parser.add_argument('config', help='train config file path')
    parser.add_argument('--work-dir', help='the dir to save logs and models')
    parser.add_argument('--amp', action='store_true',
                        help='enable automatic mixed precision training')
    parser.add_argument('--auto-scale-lr', action='store_true',
                        help='scale the lr by the real batch size')
    parser.add_argument(
        '--resume', nargs='?', type=str, const='auto',
        help='resume from CKPT, or without a value from the latest checkpoint '
        'in the work dir')
    parser.add_argument(
        '--finetune', action='store_true',
        help='fine-tune load_from on the config\'s class set: a classifier of '
        'another class count is trained anew (config key: finetune = True)')
    parser.add_argument(
        '--cfg-options', nargs='+', action=DictAction,
        help='override config entries, e.g. train_cfg.max_iters=10')
    parser.add_argument('--launcher', default='none',
                        choices=['none', 'pytorch', 'slurm', 'mpi'])
    # torch.distributed.launch passes --local-rank; torchrun sets LOCAL_RANK
    parser.add_argument('--local_rank', '--local-rank', type=int, default=0)
    args = parser.parse_args()
    os.environ.setdefault('LOCAL_RANK', str(args.local_rank))
    return args


def main():
    args = parse_args()
    cfg = load_config(args.config, args.cfg_options, args.work_dir,
                      args.launcher)
    if args.amp:
        cfg.optim_wrapper.type = 'AmpOptimWrapper'
        cfg.optim_wrapper.setdefault('loss_scale', 'dynamic')
    if args.auto_scale_lr:
        if 'base_batch_size' not in cfg.get('auto_scale_lr', {}):
            raise RuntimeError('--auto-scale-lr needs auto_scale_lr.base_batch_size '
                               'in the config')
        cfg.auto_scale_lr.enable = True
    if args.resume is not None:
        # the checkpoint is checked here: mmengine trains from iteration 0 when
        # there is none and fails inside torch.load on a truncated one
        checkpoint = resume_checkpoint(args.resume, cfg.work_dir)
        cfg.resume = checkpoint is not None
        cfg.load_from = checkpoint
        if checkpoint is not None and cfg.get('randomness', {}).get('seed') is None:
            # the sampler is seeded before mmengine reads the checkpoint's seed
            meta = torch.load(checkpoint, map_location='cpu', mmap=True,
                              weights_only=True).get('meta', {})
            if meta.get('seed') is not None:
                cfg.setdefault('randomness', {})['seed'] = meta['seed']
    if args.finetune or cfg.get('finetune', False):
        enable_finetune(cfg)
    add_progress_bar_for_terminal(cfg)
    build_runner(cfg).train()


if __name__ == '__main__':
    main()
