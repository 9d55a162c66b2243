"""Check the COCO-panoptic splits of a config before training: every problem the
loader would stop at, all of them, one line each.

    python tools/misc/check_dataset.py CONFIG [--splits train val test] \
        [--cfg-options k=v ...]

Checked per image (the checks of ``OneFormerPanopticDataset`` and
``LoadStrictPanopticAnnotations``): the annotation file parses, every segment's
category is one of the dataset's classes, the image and its PNG exist, the PNG
decodes, has the image's size, and holds exactly the segment ids its
``segments_info`` lists (0 = void). Images without things are checked too
(training filters them out). Semantic-only and instance-only datasets (and each
dataset of a ``ConcatDataset``) are checked too: every category of an instances
JSON has a mapping, every label map decodes and holds only values of the class
map and has its image's size, every image exists. Exit status 1 when anything is
wrong.
"""
import argparse
import copy
import os.path as osp
import sys
from typing import List

import cv2
import mmcv
from mmengine import fileio
from mmengine.config import DictAction
from mmengine.registry import init_default_scope
from PIL import Image

sys.path.insert(0, osp.dirname(osp.dirname(osp.dirname(osp.abspath(__file__)))))
import projects.oneformer  # noqa: E402,F401  registers the datasets
from mmdet.registry import DATASETS  # noqa: E402
from projects.oneformer.datasets import (  # noqa: E402
    OneFormerCocoInstanceDataset, OneFormerPanopticDataset, OneFormerSemSegDataset)
from projects.oneformer.datasets.transforms import (  # noqa: E402
    LoadStrictPanopticAnnotations, LoadStrictSemSegAnnotations)
from projects.common import load_config  # noqa: E402


def image_problems(info: dict, loader: LoadStrictPanopticAnnotations) -> List[str]:
    """The problems of one image (a dataset's ``data_info``)."""
    where = f"image {info['img_id']}"
    if not osp.isfile(info['img_path']):
        return [f"{info['img_path']}: {where} not found"]
    with Image.open(info['img_path']) as img:
        width, height = img.size
    path = info.get('seg_map_path')
    if path is None:
        return []
    try:
        data = fileio.get(path, backend_args=loader.backend_args)
    except FileNotFoundError:
        return [f'{path}: the panoptic PNG of {where} not found']
    try:
        pan_png = mmcv.imfrombytes(data, flag='color',
                                   channel_order='rgb').squeeze()
    except cv2.error:
        pan_png = None
    if pan_png is None:
        return [f'{path}: the panoptic PNG of {where} does not decode '
                '(truncated or not a PNG); regenerate it']
    ids = loader._rgb2id(pan_png)
    # segments of an unknown category are reported already
    segments = info['segments_info'] + [
        dict(id=i) for i in info.get('unknown_category_segments', [])]
    return loader.png_problems(
        ids, dict(info, segments_info=segments, ori_shape=(height, width)))


def single_task_problems(dataset) -> List[str]:
    """The problems of a semantic-only or instance-only dataset's images and
    label maps (the loader's checks, every image)."""
    problems = []
    loader = LoadStrictSemSegAnnotations(backend_args=dataset.backend_args) \
        if isinstance(dataset, OneFormerSemSegDataset) else None
    for index in range(len(dataset)):
        info = dataset.get_data_info(index)
        if not osp.isfile(info['img_path']):
            problems.append(f"{dataset.where(info['img_path'])}: image not found")
        elif loader is not None:
            with Image.open(info['img_path']) as img:
                width, height = img.size
            try:
                loader(dict(info, ori_shape=(height, width)))
            except (ValueError, FileNotFoundError) as err:
                problems.append(str(err))
    return problems


def check_dataset(dataset_cfg: dict) -> List[str]:
    """Every problem of one dataset config (COCO-panoptic, semantic-only,
    instance-only, or a ``ConcatDataset`` of them)."""
    dataset_cfg = copy.deepcopy(dataset_cfg)
    while 'dataset' in dataset_cfg and 'ann_file' not in dataset_cfg:
        dataset_cfg = dataset_cfg['dataset']  # dataset wrappers
    if 'datasets' in dataset_cfg:  # ConcatDataset
        return [p for sub in dataset_cfg['datasets'] for p in check_dataset(sub)]
    dataset_cfg.update(lazy_init=True, pipeline=[], filter_cfg=None)
    try:
        dataset = DATASETS.build(dataset_cfg)
        if isinstance(dataset, (OneFormerSemSegDataset,
                                OneFormerCocoInstanceDataset)):
            dataset.full_init()
            return single_task_problems(dataset)
    except (ValueError, FileNotFoundError, KeyError) as err:
        return [str(err)]
    if not isinstance(dataset, OneFormerPanopticDataset):
        return [f'{type(dataset).__name__} is not a OneFormerPanopticDataset; '
                'only COCO-panoptic datasets are checked']
    problems = dataset.collected_problems = []
    try:
        dataset.full_init()
    except (ValueError, FileNotFoundError, KeyError) as err:
        return problems + [str(err)]
    loader = LoadStrictPanopticAnnotations(
        backend_args=dataset_cfg.get('backend_args'))
    for index in range(len(dataset)):
        problems += image_problems(dataset.get_data_info(index), loader)
    return problems


def parse_args(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.split('\n')[0])
    parser.add_argument('config', help='config file path')
    parser.add_argument('--splits', nargs='+', default=['train', 'val', 'test'],
                        choices=['train', 'val', 'test'],
                        help='the dataloaders to check (default: all three)')
    parser.add_argument('--cfg-options', nargs='+', action=DictAction,
                        help='override config entries, e.g. '
                        'train_dataloader.dataset.data_root=data/toy/')
    return parser.parse_args(argv)


def main(argv=None) -> int:
    args = parse_args(argv)
    cfg = load_config(args.config, args.cfg_options, None, 'none')
    init_default_scope(cfg.get('default_scope', 'mmdet'))
    checked, total = [], 0
    for split in args.splits:
        loader_cfg = cfg.get(f'{split}_dataloader')
        if not loader_cfg:
            continue
        dataset_cfg = loader_cfg['dataset']
        if dataset_cfg in checked:  # test_dataloader = val_dataloader
            print(f'{split}: the same dataset as an earlier split')
            continue
        checked.append(dataset_cfg)
        problems = check_dataset(dataset_cfg)
        for problem in problems:
            print(f'{split}: {problem}')
        print(f'{split}: {len(problems)} problem(s)')
        total += len(problems)
    return 1 if total else 0


if __name__ == '__main__':
    sys.exit(main())
