"""The main job (`make demo`): one OneFormer, trained once, evaluated on three tasks.

1. generates the bundled toy dataset (data/toy) if it is not there;
2. trains a small OneFormer jointly (task sampled per image) on the CPU, with a
   progress bar and ETA;
3. evaluates panoptic (PQ), instance (mask AP) and semantic (mIoU) segmentation in ONE
   test run (backbone and pixel decoder shared by the three task tokens) and prints
   them as one table, saved as JSON;
4. draws a picture grid (image | panoptic | instance | semantic) of validation images.
Everything lands in --work-dir (default work_dirs/demo).

    python tools/run_demo.py [--iters N] [--work-dir DIR] [--grid-images 4]
"""
import argparse
import os
import os.path as osp
import subprocess
import sys
import time

import mmcv
import torch

import projects.oneformer  # noqa: F401  registers modules
from projects.oneformer.apis import predict_tasks
from projects.oneformer.models import TASKS
from projects.common import build_runner, load_config
from projects.oneformer.visualization import draw_task_panels, make_grid

ROOT = osp.dirname(osp.dirname(osp.abspath(__file__)))


def parse_args():
    parser = argparse.ArgumentParser(description=__doc__.split('\n')[0])
    parser.add_argument('--config', default=osp.join(ROOT, 'configs/oneformer_r18_toy.py'))
    parser.add_argument('--work-dir', default='work_dirs/demo')
    parser.add_argument('--iters', type=int, help='training iterations '
                        '(default: the config\'s)')
    parser.add_argument('--grid-images', type=int, default=4)
    parser.add_argument('--threads', type=int, default=os.cpu_count(),
                        help='torch CPU threads')
    return parser.parse_args()


def ensure_toy_dataset(data_root: str) -> None:
    if osp.exists(osp.join(data_root, 'annotations', 'panoptic_val.json')):
        print(f'[demo] using the toy dataset in {data_root}')
        return
    print(f'[demo] generating the toy dataset in {data_root}')
    subprocess.run([sys.executable, osp.join(ROOT, 'tools/misc/make_toy_dataset.py'),
                    data_root], check=True)


def draw_grid(runner, cfg, num_images: int, path: str) -> None:
    model = runner.model
    model.cfg = cfg  # the image pipeline is read from it
    dataset = runner.test_dataloader.dataset
    runner.visualizer.dataset_meta = dataset.metainfo
    paths = [dataset.get_data_info(i)['img_path'] for i in range(num_images)]
    rows = []
    for img_path, sample in zip(paths, predict_tasks(model, paths, TASKS)):
        image = mmcv.imread(img_path, channel_order='rgb')
        panels = draw_task_panels(runner.visualizer, image, sample, TASKS)
        rows.append([('image', image)] + [(title, pic) for _, title, pic in panels])
    mmcv.imwrite(mmcv.rgb2bgr(make_grid(rows)), path)


def main():
    args = parse_args()
    start = time.time()
    torch.set_num_threads(args.threads)
    cfg = load_config(args.config, None, args.work_dir, 'none')
    ensure_toy_dataset(cfg.data_root)
    if args.iters:
        cfg.train_cfg.max_iters = args.iters
        cfg.param_scheduler.end = args.iters
    # evaluated once, after training, by the test run below
    cfg.train_cfg.val_interval = cfg.train_cfg.max_iters + 1
    cfg.default_hooks.logger.interval = 50
    cfg.custom_hooks = list(cfg.get('custom_hooks', [])) + [
        dict(type='TrainProgressBarHook', interval=10)]

    runner = build_runner(cfg)
    print(f'[demo] training {cfg.train_cfg.max_iters} iterations on the CPU '
          f'({args.threads} threads)')
    runner.train()
    train_minutes = (time.time() - start) / 60
    print('[demo] evaluating panoptic, instance and semantic segmentation in one run')
    runner.test()
    grid_path = osp.join(cfg.work_dir, 'grid.png')
    draw_grid(runner, cfg, args.grid_images, grid_path)

    print(f'\n[demo] done in {(time.time() - start) / 60:.1f} min '
          f'(training {train_minutes:.1f} min). Results in {cfg.work_dir}/:')
    print(f'  metrics table  {osp.join(cfg.work_dir, "task_metrics_test.json")}')
    print(f'  picture grid   {grid_path}  (image | panoptic | instance | semantic)')
    print(f'  checkpoint     {osp.join(cfg.work_dir, f"iter_{runner.iter}.pth")}')
    print(f'  logs           {runner.log_dir}')


if __name__ == '__main__':
    main()
