"""Segment images with a OneFormer for one task or all three.

    python tools/demo.py IMAGE [IMAGE ...] --config C --checkpoint K \
        [--task {panoptic,instance,semantic,all}] [--out-dir vis] [--out preds.pkl]

Writes ``<out-dir>/<image>_<task>.jpg`` per task (mmdet's visualizer) and, for
several tasks, ``<image>_grid.jpg`` (image | task panels). ``--out`` saves the raw
predictions (one dict per image: pred_panoptic_seg / pred_instances / pred_sem_seg
as numpy arrays) with mmengine's ``dump``.
"""
import argparse
import os
import os.path as osp

import mmcv
from mmdet.apis import init_detector
from mmdet.registry import VISUALIZERS
from mmengine import dump

import projects.oneformer  # noqa: F401
from projects.oneformer.apis import prediction_record, predict_tasks
from projects.oneformer.models import TASKS
from projects.oneformer.visualization import save_task_pictures


def parse_args():
    parser = argparse.ArgumentParser(description=__doc__.split('\n')[0])
    parser.add_argument('images', nargs='+', help='image files')
    parser.add_argument('--config', required=True)
    parser.add_argument('--checkpoint', required=True)
    parser.add_argument('--task', default='all', choices=list(TASKS) + ['all'])
    parser.add_argument('--out-dir', default='outputs/demo',
                        help='where the pictures go')
    parser.add_argument('--out', help='save raw predictions here (.pkl)')
    parser.add_argument('--device', default='cpu')
    parser.add_argument('--score-thr', type=float, default=0.3,
                        help='instance score threshold for drawing')
    return parser.parse_args()


def main():
    args = parse_args()
    tasks = list(TASKS) if args.task == 'all' else [args.task]
    model = init_detector(args.config, args.checkpoint, device=args.device)
    visualizer = VISUALIZERS.build(model.cfg.visualizer)
    visualizer.dataset_meta = model.dataset_meta
    os.makedirs(args.out_dir, exist_ok=True)
    raw = []
    for path in args.images:
        sample = predict_tasks(model, path, tasks)
        titles = save_task_pictures(
            visualizer, mmcv.imread(path, channel_order='rgb'), sample, tasks,
            args.out_dir, osp.splitext(osp.basename(path))[0], args.score_thr)
        raw.append(prediction_record(path, sample))
        print(f'{path}: ' + ', '.join(titles) + f' -> {args.out_dir}')
    if args.out:
        dump(raw, args.out)
        print(f'raw predictions saved to {args.out}')


if __name__ == '__main__':
    main()
