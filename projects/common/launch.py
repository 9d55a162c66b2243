"""Distributed launch on machines without CUDA (CPU + gloo).

mmengine 0.10.7 assumes a GPU per process: ``init_dist`` calls ``torch.cuda.set_device``
and the DDP wrapper is given ``device_ids=[LOCAL_RANK]``; both fail on CPU-only machines.
Initialising the gloo process group before the Runner is built makes mmengine skip its
own ``init_dist``, and ``device_ids=None`` is what DDP requires for CPU modules.
"""
import logging
import os
import os.path as osp
from typing import Optional

import torch
import torch.distributed as torch_dist
from mmengine.config import Config, ConfigDict
from mmengine.logging import print_log
from mmengine.registry import RUNNERS
from mmengine.runner import Runner


def setup_cpu_distributed(cfg: Config) -> bool:
    """Prepare ``cfg`` (in place) for a launched run on a machine without CUDA.

    Returns True when the gloo process group was initialised here.
    """
    if cfg.get('launcher', 'none') == 'none' or torch.cuda.is_available():
        return False
    env_cfg = cfg.setdefault('env_cfg', ConfigDict())
    dist_cfg = env_cfg.setdefault('dist_cfg', ConfigDict())
    dist_cfg['backend'] = 'gloo'
    if not torch_dist.is_initialized():
        if cfg.launcher != 'pytorch':
            raise RuntimeError(
                f'launcher={cfg.launcher!r} needs CUDA; on a CPU-only machine use '
                'tools/dist_train.sh (torchrun, launcher=pytorch)')
        torch_dist.init_process_group(
            backend='gloo',
            rank=int(os.environ['RANK']),
            world_size=int(os.environ['WORLD_SIZE']))
    wrapper = cfg.get('model_wrapper_cfg') or ConfigDict(
        type='MMDistributedDataParallel', broadcast_buffers=False)
    wrapper['device_ids'] = None
    wrapper.setdefault('find_unused_parameters',
                       cfg.get('find_unused_parameters', False))
    cfg.model_wrapper_cfg = wrapper
    return True


def move_data_root(cfg: Config, old: str, new: str) -> None:
    """Replace the prefix ``old`` by ``new`` in every string of ``cfg`` that
    starts with it (dataset roots, evaluator annotation files and PNG
    folders), in place."""
    def move(node):
        if isinstance(node, str):
            return new + node[len(old):] if node.startswith(old) else node
        if isinstance(node, dict):
            for key in node:
                node[key] = move(node[key])
            return node
        if isinstance(node, (list, tuple)):
            return type(node)(move(item) for item in node)
        return node

    for key in list(cfg.keys()):
        cfg[key] = move(cfg[key])


def load_config(path: str, cfg_options: Optional[dict], work_dir: Optional[str],
                launcher: str) -> Config:
    """Read a config the way mmdet's tools do: CLI options override the file, the work
    dir defaults to ``work_dirs/<config name>``.

    ``data_root`` among the options moves every path under the config's
    ``data_root`` (datasets, evaluators) there: one key, not eight."""
    cfg = Config.fromfile(path)
    cfg.launcher = launcher
    cfg_options = dict(cfg_options or {})
    new_root, old_root = cfg_options.pop('data_root', None), cfg.get('data_root')
    if new_root is not None:
        if isinstance(old_root, str):
            if old_root.endswith('/') and not new_root.endswith('/'):
                new_root += '/'
            move_data_root(cfg, old_root, new_root)
        cfg.data_root = new_root
    if cfg_options:
        cfg.merge_from_dict(cfg_options)
    if work_dir is not None:
        cfg.work_dir = work_dir
    elif cfg.get('work_dir') is None:
        cfg.work_dir = osp.join('./work_dirs', osp.splitext(osp.basename(path))[0])
    return cfg


def amp_off_without_cuda(cfg: Config) -> bool:
    """Train in fp32 (plain ``OptimWrapper``) when a config asks for AMP on a
    machine without CUDA, where mmengine's ``AmpOptimWrapper`` refuses to
    build. Returns True when it changed ``cfg``."""
    wrapper = cfg.get('optim_wrapper')
    if (not wrapper or wrapper.get('type') != 'AmpOptimWrapper'
            or torch.cuda.is_available()):
        return False
    for key in ('loss_scale', 'dtype', 'use_fsdp'):
        wrapper.pop(key, None)
    wrapper['type'] = 'OptimWrapper'
    print_log('No CUDA device: AMP (AmpOptimWrapper) is off, training in fp32.',
              logger='current', level=logging.WARNING)
    return True


def build_runner(cfg: Config) -> Runner:
    """Build the config's runner (``runner_type`` if set), CPU-distributed aware
    and in fp32 without CUDA."""
    setup_cpu_distributed(cfg)
    amp_off_without_cuda(cfg)
    if 'runner_type' in cfg:
        return RUNNERS.build(cfg)
    return Runner.from_cfg(cfg)
