"""This plugin's OneFormer vs Hugging Face's, same weights, measured in one run.

    python tools/benchmarks/vs_hf.py [--size 512] [--threads 2] [--repeats 5]
        [--switches channels-last bf16 compile] [--bias-std 0.02]

Hugging Face's default ``OneFormerConfig`` (Swin-T, 150 queries) with 150
classes and random weights is converted with this plugin's HF converter into
``configs/oneformer/oneformer_swin-t_8xb2-160k_ade20k-512x512.py``; nothing is
downloaded. First the parity check on one image (semantic task): the class and
mask logits of all 10 predictions must agree within 1e-4, up to the first
masked-attention bit the two decide differently because its logit is within
rounding of 0 (random weights make such logits likely; after it the two attend
to different keys, as any two float implementations may). Then, alternating the two
models on the same normalised image, the median wall time of:

* forward: image tensor -> final class and mask logits (stride 4);
* semantic map: image tensor -> semantic label map at the input size. HF:
  forward + ``OneFormerImageProcessor.post_process_semantic_segmentation``
  (the rule at stride 4, then the class scores upsampled). Here: forward +
  the released order (masks upsampled, cropped and resized, then the rule).

It prints ratio = this plugin / HF for both (targets <= 0.55x), the agreement
of the two semantic maps, and the forward's FLOPs per image (matmuls and
convolutions, ``torch.utils.flop_counter``) against this machine's sgemm peak
measured here (a square fp32 matmul with the same threads). Not a test:
compare ratios within one run only.

It also prints each side's kernel time and minor page faults per call. Under
glibc's default allocator every block over the mmap threshold (at most 32 MB)
goes back to the system when freed, and the next one is paged in again, one
fault per 4 KB page: HF's forward takes several times more such faults than
this plugin's, and they are part of its time. Run with
``MALLOC_MMAP_MAX_=0 MALLOC_TRIM_THRESHOLD_=100000000000`` (glibc keeps freed
memory: no faults after the warm-up, a larger resident set) to see the ratios
without that cost.

HF initialises every bias to 0. Then in HF's Swin (shifted-window mask -100)
a padding token (zero after the padding, so q = k = v = 0) whose unmasked
keys are all padding gets the exp(-100)-weighted sum of the masked tokens'
values, a subnormal float, and the output projection that reads such rows
runs tens of times slower on x86 (stages 2 and 4: about 0.1 s of HF's
forward); this plugin's ``InfMaskSwinTransformer`` masks with -inf and gets
0. A trained checkpoint has non-zero biases and no such outputs.
``--bias-std S`` adds N(0, S^2) noise (seeded) to every bias of the HF model
before it is converted, so both models run with weights closer to a trained
checkpoint's in this respect; the default (0) is HF's initialisation.

``--switches`` also times this plugin with each opt-in switch on its own, in
the same alternating loop, and prints its times, its ratios to HF and to the
plain fp32 model, and how far its outputs are from the plain model's:

* ``channels-last``: the model's 4-d weights and the image in channels-last
  memory format (the same math);
* ``bf16``: ``torch.autocast('cpu', dtype=torch.bfloat16)`` around the model,
  the released fp32 pixel decoder kept (what ``test_cfg.fp16=True`` gives
  under mmengine's ``TestLoop`` on a CPU);
* ``compile``: the backbone through ``torch.compile`` (its compile time is
  printed; the head's Python control flow and post-processing stay eager).
"""
import argparse
import contextlib
import copy
import os.path as osp
import resource
import statistics
import sys
import time

import torch
import torch.nn.functional as F
from mmengine.config import Config
from mmengine.registry import init_default_scope
from torch.utils.flop_counter import FlopCounterMode

ROOT = osp.dirname(osp.dirname(osp.dirname(osp.abspath(__file__))))
sys.path.insert(0, ROOT)
import projects.oneformer  # noqa: E402,F401  registers modules
from mmdet.registry import MODELS  # noqa: E402
from mmdet.structures import DetDataSample  # noqa: E402
from projects.oneformer.converters import convert_hf_state_dict  # noqa: E402

CONFIG = 'configs/oneformer/oneformer_swin-t_8xb2-160k_ade20k-512x512.py'
NUM_CLASSES = 150
TOL = 1e-4
SWITCHES = ('channels-last', 'bf16', 'compile')


def parse_args():
    parser = argparse.ArgumentParser(description=__doc__.split('\n')[0])
    parser.add_argument('--size', type=int, default=512, help='image side')
    parser.add_argument('--threads', type=int, default=2)
    parser.add_argument('--repeats', type=int, default=5)
    parser.add_argument('--switches', nargs='*', default=[], choices=SWITCHES,
                        help='also time the plugin with each of these')
    parser.add_argument('--bias-std', type=float, default=0.,
                        help='noise added to the HF model\'s zero biases')
    args = parser.parse_args()
    if args.bias_std < 0:
        parser.error(f'--bias-std must be >= 0, got {args.bias_std:g}')
    return args


def build_models(bias_std: float = 0.):
    """(HF model, HF image processor, this plugin's model) with the same
    weights, in eval mode; ``bias_std`` > 0 adds seeded N(0, bias_std^2)
    noise to every bias of the HF model first."""
    from transformers import (OneFormerConfig,
                              OneFormerForUniversalSegmentation,
                              OneFormerImageProcessor)
    torch.manual_seed(0)
    hf_cfg = OneFormerConfig(
        id2label={i: f'class{i}' for i in range(NUM_CLASSES)})
    hf = OneFormerForUniversalSegmentation(hf_cfg).eval()
    if bias_std > 0:
        noise = torch.Generator().manual_seed(1)
        with torch.no_grad():
            for name, param in hf.named_parameters():
                if name.endswith('.bias'):
                    param.add_(bias_std * torch.randn(param.shape,
                                                      generator=noise))
    state_dict, report = convert_hf_state_dict(hf.state_dict(), backbone='swin')
    if not report.ok or report.unmapped:
        raise RuntimeError(report.format())
    cfg = Config.fromfile(osp.join(ROOT, CONFIG))
    init_default_scope('mmdet')
    cfg.model.backbone.init_cfg = None  # offline: the HF weights are loaded
    cfg.model.panoptic_head.text_mapper = None  # training only
    cfg.model.panoptic_head.loss_contrastive = None
    ours = MODELS.build(cfg.model).eval()
    ours.load_state_dict(state_dict, strict=True)
    ours.test_cfg['tasks'] = None  # each image's own task: semantic
    ours.requires_grad_(False)  # inference only (and FlopCounterMode's hooks)
    # its post-processing reads no processor setting; __init__ would load
    # class metadata from the hub
    return hf, OneFormerImageProcessor.__new__(OneFormerImageProcessor), ours


def sample(size: int) -> DetDataSample:
    shape = (size, size)
    return DetDataSample(metainfo=dict(
        img_shape=shape, ori_shape=shape, pad_shape=shape,
        batch_input_shape=shape, scale_factor=(1.0, 1.0), task='semantic'))


def median_seconds(fns: dict, repeats: int) -> tuple:
    """Median wall time of each function, the functions alternating, and
    the median (kernel seconds, minor page faults) of each call."""
    for fn in fns.values():
        fn()  # warm-up
    times = {name: [] for name in fns}
    kernel = {name: [] for name in fns}
    for _ in range(repeats):
        for name, fn in fns.items():
            before = resource.getrusage(resource.RUSAGE_SELF)
            start = time.perf_counter()
            fn()
            times[name].append(time.perf_counter() - start)
            after = resource.getrusage(resource.RUSAGE_SELF)
            kernel[name].append((after.ru_stime - before.ru_stime,
                                 after.ru_minflt - before.ru_minflt))
    return ({name: statistics.median(t) for name, t in times.items()},
            {name: tuple(statistics.median(x) for x in zip(*k))
             for name, k in kernel.items()})


def sgemm_gflops(n: int = 2048, repeats: int = 5) -> float:
    """Achieved GFLOP/s of an n x n fp32 matmul (best of ``repeats``)."""
    a, b = torch.randn(n, n), torch.randn(n, n)
    a @ b
    best = min(_timed(lambda: a @ b) for _ in range(repeats))
    return 2 * n**3 / best / 1e9


def _timed(fn) -> float:
    start = time.perf_counter()
    fn()
    return time.perf_counter() - start


def with_switch(ours, image: torch.Tensor, switch: str):
    """(model, image, context factory) of this plugin with one opt-in
    switch; the plain model is left as it is."""
    if switch == 'channels-last':
        model = copy.deepcopy(ours).to(memory_format=torch.channels_last)
        return (model, image.contiguous(memory_format=torch.channels_last),
                contextlib.nullcontext)
    if switch == 'bf16':
        return ours, image, lambda: torch.autocast('cpu', dtype=torch.bfloat16)
    model = copy.deepcopy(ours)
    model.backbone = torch.compile(model.backbone)
    return model, image, contextlib.nullcontext


def parity(hf, ours, image, task_inputs) -> bool:
    """Print the max difference of each of the 10 predictions; True when
    they agree within ``TOL``, or up to the first masked-attention bit that
    differs when that bit's logit is within ``TOL`` of 0 (rounding decided
    the released threshold sigmoid(logit) < 0.5; the layers after it attend
    to a different key set)."""
    out = hf(pixel_values=image, task_inputs=task_inputs,
             output_auxiliary_logits=True)
    hf_preds = [*out.auxiliary_predictions, out]
    cls_preds, mask_preds, _ = ours.panoptic_head(
        ours.extract_feat(image), ['semantic'])
    sizes = [m.shape[-2:] for m in ours.panoptic_head.pixel_decoder(
        list(ours.extract_feat(image)))[1]]
    print(f'{CONFIG} with the weights of HF OneFormerConfig() (Swin-T, '
          f'{ours.panoptic_head.num_queries} queries, {NUM_CLASSES} classes), '
          f'{image.shape[-2]}x{image.shape[-1]}')
    print('parity, max |ours - HF| of each prediction (class, mask logits):')
    flipped_at, ok = None, True
    for i, (cls, mask, pred) in enumerate(zip(cls_preds, mask_preds,
                                              hf_preds)):
        diff = max((cls - pred['class_queries_logits']).abs().max().item(),
                   (mask - pred['masks_queries_logits']).abs().max().item())
        line = f'  prediction {i}: {diff:.2e}'
        if flipped_at is None and diff >= TOL:
            ok = False
        if i < len(cls_preds) - 1 and flipped_at is None:
            # the attention mask of the next layer, from either side
            ours_l, hf_l = (F.interpolate(
                m, sizes[i % len(sizes)], mode='bilinear',
                align_corners=False)
                for m in (mask, pred['masks_queries_logits']))
            # the released rule; torch's fp32 sigmoid rounds to 0.5 for
            # logits in (-1.8e-7, 0), so there it is not l < 0
            flips = (ours_l.sigmoid() < 0.5) != (hf_l.sigmoid() < 0.5)
            if flips.any():
                flipped_at = i
                near_zero = hf_l[flips].abs().max().item()
                ok = ok and near_zero < TOL
                line += (f'; {flips.sum().item()} attention-mask bit(s) of '
                         f'the next layer differ, |logit| <= {near_zero:.1e}:'
                         ' decided by rounding')
        print(line)
    print(f'parity (tolerance {TOL:g}'
          + ('' if flipped_at is None else
             f', up to the attention-mask bit after prediction {flipped_at}')
          + f'): {"ok" if ok else "FAILED"}')
    return ok


def main():
    args = parse_args()
    torch.set_num_threads(args.threads)
    hf, processor, ours = build_models(args.bias_std)
    size = args.size
    image = torch.randn(1, 3, size, size,
                        generator=torch.Generator().manual_seed(0))
    task_inputs = ours.panoptic_head.task_encoder.tokenize(
        ['semantic']).float()
    samples = [sample(size)]

    def hf_forward():
        return hf(pixel_values=image, task_inputs=task_inputs)

    def forward_fn(model, image, context):
        def forward():
            with context():
                return model.panoptic_head.predict(
                    model.extract_feat(image), samples, ['semantic'])
        return forward

    def semantic_fn(model, image, context):
        def semantic():
            with context():
                return model.predict(
                    image, [sample(size)])[0].pred_sem_seg.sem_seg[0]
        return semantic

    ours_forward = forward_fn(ours, image, contextlib.nullcontext)
    ours_semantic = semantic_fn(ours, image, contextlib.nullcontext)

    def hf_semantic():
        return processor.post_process_semantic_segmentation(
            hf_forward(), target_sizes=[(size, size)])[0]

    with torch.no_grad():
        ok = parity(hf, ours, image, task_inputs)
        agree = (ours_semantic() == hf_semantic()).float().mean().item()
    print(f'semantic maps (released order here, rule at stride 4 in HF): '
          f'{100 * agree:.2f} % of pixels equal')
    if not ok:
        sys.exit(1)

    fns = dict(hf_forward=hf_forward, ours_forward=ours_forward,
               hf_semantic=hf_semantic, ours_semantic=ours_semantic)
    outputs = {}
    with torch.no_grad():
        reference = (ours_forward(), ours_semantic()) if args.switches \
            else None
        for switch in args.switches:
            variant = with_switch(ours, image, switch)
            fns[f'{switch}_forward'] = forward_fn(*variant)
            fns[f'{switch}_semantic'] = semantic_fn(*variant)
            start = time.perf_counter()
            outputs[switch] = (fns[f'{switch}_forward'](),
                               fns[f'{switch}_semantic']())
            first = time.perf_counter() - start
            print(f'switch {switch}: first forward + semantic map '
                  f'{first:.1f} s' + (' (compiling)' if switch == 'compile'
                                      else ''))
        times, kernel = median_seconds(fns, args.repeats)
        with FlopCounterMode(display=False) as counter:
            ours_forward()
    flops = counter.get_total_flops()
    peak = sgemm_gflops()
    print(f'{args.threads} threads, median of {args.repeats}, seconds per '
          'image' + (f', biases + N(0, {args.bias_std:g}^2)' if args.bias_std
                     else ', HF\'s zero biases') + ':')
    for what in ('forward', 'semantic'):
        ratio = times[f'ours_{what}'] / times[f'hf_{what}']
        print(f'  {what:9s} HF {times[f"hf_{what}"]:.3f}  ours '
              f'{times[f"ours_{what}"]:.3f}  ratio {ratio:.3f}x '
              '(target <= 0.55x)')
    print('  kernel time and minor page faults per call (first touches of '
          'memory the allocator took from the system; glibc returns freed '
          'blocks over its mmap threshold, at most 32 MB):')
    for what in ('forward', 'semantic'):
        print(f'  {what:9s} ' + '  '.join(
            f'{who} {kernel[f"{key}_{what}"][0]:.3f} s, '
            f'{kernel[f"{key}_{what}"][1] / 1e3:.0f}k faults'
            for who, key in (('HF', 'hf'), ('ours', 'ours'))))
    for switch, (logits, semantic) in outputs.items():
        diffs = [(a.float() - b).abs().max().item()
                 for a, b in zip(logits, reference[0])]
        agree = (semantic == reference[1]).float().mean().item()
        parts = []
        for what in ('forward', 'semantic'):
            seconds = times[f'{switch}_{what}']
            parts.append(f'{what} {seconds:.3f} ('
                         f'{seconds / times[f"hf_{what}"]:.2f}x HF, '
                         f'{seconds / times[f"ours_{what}"]:.2f}x fp32)')
        print(f'  {switch}: {", ".join(parts)}; max |switch - fp32| class '
              f'{diffs[0]:.1e}, mask {diffs[1]:.1e}; semantic map '
              f'{100 * agree:.2f} % equal')
    achieved = flops / times['ours_forward'] / 1e9
    print(f'forward: {flops / 1e9:.1f} GFLOP per image (matmul/conv), '
          f'{achieved:.0f} GFLOP/s = {100 * achieved / peak:.0f} % of this '
          f'machine\'s sgemm peak ({peak:.0f} GFLOP/s, 2048^2 fp32, '
          f'{args.threads} threads); at the peak the forward would take '
          f'{flops / peak / 1e9:.2f} s = '
          f'{flops / peak / 1e9 / times["hf_forward"]:.2f}x HF')


if __name__ == '__main__':
    main()
