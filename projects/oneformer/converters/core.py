"""OneFormer's side of the converters: the target layouts (mmdet detector,
mmseg segmentor), the classifier's class order and the command line."""
from collections import OrderedDict
from typing import Callable, Dict, Optional, Sequence, Tuple

import numpy as np
import torch

from projects.common.converters import (ConversionReport, StateDict,
                                        convert_cli, dataset_metainfo)
from ..datasets.class_order import release_rank

#: Where the top-level modules of the mmdet ``OneFormer`` live in the model of
#: each target: mmseg's ``EncoderDecoder`` holds everything but the backbone
#: in its ``OneFormerSegHead`` ``decode_head``. Other prefixes are kept.
TARGET_PREFIXES: Dict[str, Dict[str, str]] = dict(
    mmdet={},
    mmseg={
        'panoptic_head.': 'decode_head.',
    })


def retarget_key(key: str, target: str) -> str:
    """Name of an mmdet ``OneFormer`` key in the model of ``target``."""
    if target not in TARGET_PREFIXES:
        raise KeyError(f'Unknown target {target!r}; available: '
                       f'{sorted(TARGET_PREFIXES)}.')
    for old, new in TARGET_PREFIXES[target].items():
        if key.startswith(old):
            return new + key[len(old):]
    return key


def retarget(state_dict: StateDict, target: str) -> StateDict:
    """An mmdet ``OneFormer`` state dict in the layout of ``target``."""
    return OrderedDict(
        (retarget_key(k, target), v) for k, v in state_dict.items())


#: The classifier of the mmdet ``OneFormer`` (K + 1 rows, no-object last).
CLASSIFIER = 'panoptic_head.cls_embed.'


def reorder_classes(state_dict: StateDict, metainfo: Optional[dict],
                    target: str = 'mmdet') -> str:
    """Permute the classifier rows in place from the release's class order
    into the label order of ``metainfo`` (see ``datasets.class_order``); the
    no-object row stays last. A metainfo with a subset of the release's
    classes keeps only their rows. Returns what was done, for the report.
    """
    rank = release_rank(metainfo)
    if rank is None:
        return ('label order is the release order: classifier rows kept'
                if metainfo else 'no dataset in the config: classifier '
                'rows kept in checkpoint order')
    names = metainfo['classes']
    for param in ('weight', 'bias'):
        key = retarget_key(CLASSIFIER + param, target)
        rows = state_dict[key]
        num_release = len(metainfo['release_classes'])
        if len(rows) != num_release + 1:
            raise ValueError(
                f'{key} has {len(rows)} rows; the release order of the '
                f"config's dataset has {num_release} classes + no-object")
        state_dict[key] = rows[torch.from_numpy(
            np.append(rank, num_release))].clone()
    moved = [(i, r) for i, r in enumerate(rank.tolist()) if i != r]
    examples = ', '.join(f'{i} {names[i]!r} <- row {r}' for i, r in moved[:3])
    return (f'release order -> config label order: {len(moved)} of '
            f'{len(rank)} class rows moved (label <- release row: {examples}'
            f"{', ...' if len(moved) > 3 else ''}), no-object row last")


def _adapt(state_dict: StateDict, report: ConversionReport, cfg,
           target: str) -> dict:
    """Classifier rows into the label order of the config's dataset, whose
    metainfo (classes, palette) becomes the checkpoint's ``dataset_meta``."""
    metainfo = dataset_metainfo(cfg, target)
    if retarget_key(CLASSIFIER + 'weight', target) in state_dict:
        report.notes.append('class order: ' +
                            reorder_classes(state_dict, metainfo, target))
    return {} if metainfo is None else dict(dataset_meta=metainfo)


def run_cli(description: str,
            load: Callable[[str], StateDict],
            convert: Callable[..., Tuple[StateDict, ConversionReport]],
            argv: Optional[Sequence[str]] = None) -> int:
    """The OneFormer converters' command line (``--target mmdet|mmseg``);
    returns the exit status. See ``projects.common.converters.convert_cli``:
    the classifier rows are permuted into the label order of the config's
    dataset, whose metainfo is saved as ``meta.dataset_meta``; the text
    mapper and the contrastive temperature may be absent from the model."""
    return convert_cli(
        description, load, convert, argv,
        targets=tuple(TARGET_PREFIXES), adapt=_adapt,
        optional_prefixes=lambda target: tuple(
            retarget_key(p, target) for p in ('panoptic_head.text_mapper.',
                                              'panoptic_head.loss_contrastive.')))
