"""Refuse a checkpoint that lacks tensors of the model.

mmengine's ``load_checkpoint`` (used by ``init_detector``, ``tools/test.py`` and
``load_from``) only warns about missing keys: a checkpoint without its classifier
loads, and the model predicts with random class weights. OneFormer models call
:func:`check_missing_keys` from their ``_load_from_state_dict`` instead.
Unexpected keys stay mmengine's warning. Checkpoint keys of modules a model
did not build (training-only ones) are dropped with :func:`drop_keys`.
"""
from typing import Iterable, List, Sequence

from torch import nn

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
