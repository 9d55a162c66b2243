"""Segment images with an exported OneFormer graph in onnxruntime.

    python tools/deployment/onnx_infer.py model.onnx CONFIG IMAGE [IMAGE ...] \
        [--task {panoptic,instance,semantic,all}] [--out-dir vis] [--out preds.pkl]

The config's test pipeline and the PyTorch path's post-processing run around
the graph, and the pictures are those of ``tools/demo.py``:
``<out-dir>/<image>_<task>.jpg`` per task and ``<image>_grid.jpg``. A graph
exported from an mmseg config predicts the semantic task only, one of mmdet's
Mask2Former the tasks its config turns on.
"""
import argparse
import os
import os.path as osp
import time

import mmcv
from mmdet.registry import VISUALIZERS
from mmengine import dump

import projects.oneformer  # noqa: F401
from projects.oneformer.apis import prediction_record
from projects.oneformer.deployment import OnnxOneFormer
from projects.oneformer.tasks import TASKS
from projects.oneformer.visualization import save_task_pictures


def parse_args():
    parser = argparse.ArgumentParser(description=__doc__.split('\n')[0])
    parser.add_argument('onnx', help='file from tools/deployment/export_onnx.py')
    parser.add_argument('config', help='the config it was exported from')
    parser.add_argument('images', nargs='+', help='image files')
    parser.add_argument('--task', default='all', choices=list(TASKS) + ['all'])
    parser.add_argument('--out-dir', default='outputs/onnx',
                        help='where the pictures go')
    parser.add_argument('--out', help='save raw predictions here (.pkl)')
    parser.add_argument('--threads', type=int, help='onnxruntime threads')
    parser.add_argument('--score-thr', type=float, default=0.3,
                        help='instance score threshold for drawing')
    return parser.parse_args()


def main():
    args = parse_args()
    runner = OnnxOneFormer(args.onnx, args.config, args.threads)
    tasks = runner.tasks if args.task == 'all' else [args.task]
    visualizer = VISUALIZERS.build(
        dict(type='DetLocalVisualizer', name='onnx_infer'))
    visualizer.dataset_meta = runner.model.dataset_meta
    os.makedirs(args.out_dir, exist_ok=True)
    raw = []
    for path in args.images:
        start = time.perf_counter()
        sample = runner(path, tasks)
        seconds = time.perf_counter() - start
        titles = save_task_pictures(
            visualizer, mmcv.imread(path, channel_order='rgb'), sample, tasks,
            args.out_dir, osp.splitext(osp.basename(path))[0], args.score_thr)
        raw.append(prediction_record(path, sample))
        print(f'{path}: {seconds:.2f} s, ' + ', '.join(titles) +
              f' -> {args.out_dir}')
    if args.out:
        dump(raw, args.out)
        print(f'raw predictions saved to {args.out}')


if __name__ == '__main__':
    main()
