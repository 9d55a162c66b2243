"""FLOPs and parameters of a config's model at inference, without its dataset.

    python tools/analysis_tools/get_flops.py CONFIG [--shape H W] \
        [--task {panoptic,instance,semantic,all}] [--cfg-options k=v ...]

The model is built from the config (random weights, no checkpoint or
pretrained backbone is read) and fed one random image of H x W (the size after
the test pipeline's resize and padding). A OneFormer is counted on the
inference path of ``--task``: backbone, pixel decoder and the decoder for that
one task token (``all``: the three-task pass, the decoder batched over the
three tokens), up to the mask logits at the input size; post-processing
(panoptic merging, top-k) is not counted, nor are the training-only text
mapper and contrastive loss. Other mmdet models are counted on
their ``tensor`` forward. Uses mmengine's FLOP counter (one multiply-add = one
FLOP, as mmdet's get_flops reports).
"""
import argparse
import os.path as osp
import sys

import torch
from mmengine.analysis import get_model_complexity_info
from mmengine.config import DictAction
from mmengine.registry import init_default_scope
from torch import nn

sys.path.insert(0, osp.dirname(osp.dirname(osp.dirname(osp.abspath(__file__)))))
import projects.oneformer  # noqa: E402,F401  registers modules
from mmdet.registry import MODELS  # noqa: E402
from mmdet.structures import DetDataSample  # noqa: E402
from projects.common import load_config  # noqa: E402
from projects.oneformer.tasks import TASKS  # noqa: E402


def parse_args():
    parser = argparse.ArgumentParser(description=__doc__.split('\n')[0])
    parser.add_argument('config')
    parser.add_argument('--shape', type=int, nargs=2, default=[512, 512],
                        metavar=('H', 'W'), help='input size (default 512 512)')
    parser.add_argument('--task', default='panoptic', choices=list(TASKS) + ['all'],
                        help='the OneFormer task(s) of the pass (default panoptic)')
    parser.add_argument('--cfg-options', nargs='+', action=DictAction,
                        help='override config entries')
    return parser.parse_args()


class InferencePass(nn.Module):
    """A detector's inference up to its raw outputs, on fixed data samples.

    For a OneFormer, ``tasks`` (one per image and task) choose the decoder's
    task tokens; other models run ``forward(mode='tensor')``.
    """

    def __init__(self, model: nn.Module, samples: list, tasks: list) -> None:
        super().__init__()
        self.model, self.samples, self.tasks = model, samples, tasks

    def forward(self, inputs: torch.Tensor):
        if type(self.model).__name__ != 'OneFormer':
            return self.model(inputs, self.samples, mode='tensor')
        feats = self.model.extract_feat(inputs)
        return self.model.panoptic_head.predict(
            feats, self.samples, self.tasks, len(self.tasks) // len(self.samples))


def strip_pretrained(cfg) -> None:
    """No download: drop every ``init_cfg`` (pretrained backbone) and
    ``pretrained`` entry of the model config, in place."""
    def strip(node):
        if isinstance(node, dict):
            for key in ('init_cfg', 'pretrained'):
                if key in node:
                    node[key] = None
            for value in node.values():
                strip(value)
        elif isinstance(node, list):
            for value in node:
                strip(value)
    strip(cfg.model)


def model_complexity(cfg, shape, task: str) -> dict:
    """mmengine's complexity info (``flops``, ``params``, their strings and
    the per-module table) of one H x W image through the config's model."""
    strip_pretrained(cfg)
    head = cfg.model.get('panoptic_head', {})
    if 'text_mapper' in head:  # training only: an inference model lacks them
        head.update(text_mapper=None, loss_contrastive=None)
    init_default_scope(cfg.get('default_scope', 'mmdet'))
    model = MODELS.build(cfg.model).eval()
    h, w = shape
    sample = DetDataSample(metainfo=dict(
        img_shape=(h, w), pad_shape=(h, w), batch_input_shape=(h, w),
        ori_shape=(h, w), scale_factor=(1.0, 1.0)))
    tasks = list(TASKS) if task == 'all' else [task]
    with torch.no_grad():
        return get_model_complexity_info(
            InferencePass(model, [sample], tasks),
            inputs=(torch.rand(1, 3, h, w), ), show_table=True, show_arch=False)


def main():
    args = parse_args()
    cfg = load_config(args.config, args.cfg_options, None, 'none')
    info = model_complexity(cfg, args.shape, args.task)
    print(info['out_table'])
    print(f'{"=" * 30}\nInput shape: {tuple(args.shape)}  task: {args.task}\n'
          f'Flops: {info["flops_str"]}\nParams: {info["params_str"]}\n{"=" * 30}')


if __name__ == '__main__':
    main()
