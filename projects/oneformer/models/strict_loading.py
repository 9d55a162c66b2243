"""Refuse a checkpoint that lacks tensors of the model; fine-tune on purpose.

mmengine's ``load_checkpoint`` (used by ``init_detector``, ``tools/test.py`` and
``load_from``) only warns about missing keys: a checkpoint without its classifier
loads, and the model predicts with random class weights. OneFormer models call
:func:`check_missing_keys` from their ``_load_from_state_dict`` instead.
Unexpected keys stay mmengine's warning. Checkpoint keys of modules a model
did not build (training-only ones) are dropped with :func:`drop_keys`.

Fine-tuning on another class set is the one deliberate exception: the
``finetune`` switch (:func:`enable_finetune`, ``tools/train.py --finetune``)
lets the classifier be missing, and :func:`drop_mismatched_keys` leaves out
its checkpoint rows of another class count, with a warning naming them.
"""
import logging
from typing import Iterable, List, Sequence

from mmengine.config import Config
from mmengine.logging import print_log
from torch import nn

#: classifier key prefix (relative to the model) the ``finetune`` switch
#: trains anew, per model type: mmdet's OneFormer, mmseg's OneFormerSegHead
FINETUNE_PREFIXES = {'OneFormer': 'panoptic_head.cls_embed.',
                     'OneFormerSegHead': 'cls_embed.'}

# torch fills a missing BatchNorm counter in itself; the released (detectron2)
# backbones have none
_FILLED_BY_TORCH = ('num_batches_tracked', )


def missing_keys(module: nn.Module, state_dict: dict, prefix: str,
                 optional: Iterable[str] = ()) -> List[str]:
    """Keys of ``module`` (named with ``prefix``) absent from ``state_dict``,
    except those under an ``optional`` prefix (relative to ``module``)."""
    optional = tuple(optional)
    return [
        prefix + key for key in module.state_dict(keep_vars=True)
        if prefix + key not in state_dict
        and not key.endswith(_FILLED_BY_TORCH) and not key.startswith(optional)
    ]


def check_missing_keys(module: nn.Module, state_dict: dict, prefix: str,
                       training_only: Sequence[str],
                       allow_missing_keys: Sequence[str]) -> None:
    """Raise a one-line ``ValueError`` listing the keys of ``module`` that
    ``state_dict`` lacks.

    Args:
        training_only (sequence of str): prefixes (relative to ``module``) of
            modules only training uses (text mapper, contrastive loss): a
            checkpoint for inference may lack them.
        allow_missing_keys (sequence of str): prefixes of the modules a
            fine-tuning run trains anew (the config's deliberate switch).
    """
    missing = missing_keys(module, state_dict, prefix,
                           tuple(training_only) + tuple(allow_missing_keys))
    if missing:
        shown = ', '.join(missing[:8]) + (', ...' if len(missing) > 8 else '')
        raise ValueError(
            f'The checkpoint lacks {len(missing)} tensor(s) of the '
            f'{type(module).__name__} model: {shown}. Load a complete '
            'checkpoint (the model converters report what a conversion '
            'lacks); to train them anew when fine-tuning, set '
            'allow_missing_keys (key prefixes) in the model config.')


def drop_keys(state_dict: dict, prefix: str) -> None:
    """Delete the ``state_dict`` entries under ``prefix``, in place.

    Checkpoints of trained models carry training-only state (the text mapper,
    the contrastive temperature) that an inference model does not build.
    """
    for key in [k for k in state_dict if k.startswith(prefix)]:
        del state_dict[key]


def drop_mismatched_keys(module: nn.Module, state_dict: dict, prefix: str,
                         allow_missing_keys: Sequence[str]) -> List[str]:
    """Delete, in place, the ``state_dict`` tensors under an
    ``allow_missing_keys`` prefix whose shape differs from ``module``'s (a
    classifier of another class count when fine-tuning), warning with their
    names and shapes. Returns the deleted keys."""
    own = module.state_dict(keep_vars=True)
    dropped = [
        (prefix + key, tuple(state_dict[prefix + key].shape), tuple(value.shape))
        for key, value in own.items()
        if key.startswith(tuple(allow_missing_keys)) and prefix + key in state_dict
        and state_dict[prefix + key].shape != value.shape]
    for key, _, _ in dropped:
        del state_dict[key]
    if dropped:
        print_log(
            'Fine-tuning: not loading ' + ', '.join(
                f'{key} {list(theirs)} (model: {list(ours)})'
                for key, theirs, ours in dropped) +
            ' from the checkpoint: another class count; these tensors are '
            'trained anew from their initialisation.',
            logger='current', level=logging.WARNING)
    return [key for key, _, _ in dropped]


def enable_finetune(cfg: Config) -> None:
    """Apply the config's ``finetune = True`` switch (in place): the model's
    classifier may be missing from ``load_from`` or have another class count;
    it is then trained anew. Testing tools do not apply it, so a mismatched
    checkpoint still fails there."""
    if not cfg.get('load_from'):
        raise ValueError('finetune=True (tools/train.py --finetune) needs '
                         'load_from: set it to the checkpoint to start from')
    model = cfg.model
    owner = model if model.get('type') in FINETUNE_PREFIXES else model.get(
        'decode_head', {})
    prefix = FINETUNE_PREFIXES.get(owner.get('type'))
    if prefix is None:
        raise ValueError(
            f"finetune=True: model type {model.get('type')!r} has no "
            'allow_missing_keys switch; it works for '
            f"{', '.join(FINETUNE_PREFIXES)} models")
    keys = list(owner.get('allow_missing_keys', ()))
    if prefix not in keys:
        owner['allow_missing_keys'] = keys + [prefix]
