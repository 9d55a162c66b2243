"""Let mmengine's own checkpoints load under torch >= 2.6 without giving up ``weights_only``.

torch 2.6 switched ``torch.load`` to ``weights_only=True``; mmengine 0.10.7 calls
``torch.load`` without the argument, so resuming (and ``load_from`` a Runner checkpoint)
fails: the message hub stores ``HistoryBuffer`` objects holding numpy arrays, which the
restricted unpickler refuses. Turning ``weights_only`` off would let any downloaded
checkpoint run code, so instead exactly the types mmengine writes are allow-listed.
"""
import pickle

import numpy as np
import torch
from mmengine.logging import HistoryBuffer


def _numpy_globals() -> list:
    """numpy objects a pickled ``np.ndarray`` / numpy scalar refers to.

    Pickles name the module they were written under (``numpy.core`` in numpy 1.x,
    ``numpy._core`` in 2.x), so both spellings are registered.
    """
    multiarray = np._core.multiarray if hasattr(np, '_core') else np.core.multiarray
    dtype_classes = [type(np.dtype(t)) for t in (
        np.bool_, np.int8, np.int16, np.int32, np.int64, np.uint8, np.uint16,
        np.uint32, np.uint64, np.float16, np.float32, np.float64, np.str_)]
    found = [np.ndarray, np.dtype] + dtype_classes
    for name in ('_reconstruct', 'scalar'):
        fn = getattr(multiarray, name)
        for module in ('numpy.core.multiarray', 'numpy._core.multiarray'):
            found.append((fn, f'{module}.{name}'))
    return found


_STATISTICS = ('min', 'max', 'current', 'mean')


def _history_buffer_method(owner, name: str):
    """What a checkpoint's ``getattr`` global resolves to.

    ``HistoryBuffer.__getstate__`` saves its statistics methods, which pickle (protocol 2)
    as ``getattr(HistoryBuffer, 'mean')``. Allow-listing the builtin ``getattr`` would
    let a checkpoint reach any attribute of any allowed object, so only these are served.
    """
    if owner is HistoryBuffer and (name in _STATISTICS
                                   or name in HistoryBuffer._statistics_methods):
        return getattr(owner, name)
    raise pickle.UnpicklingError(
        f'checkpoint asks for getattr({owner!r}, {name!r}); only HistoryBuffer '
        'statistics methods are allowed')


def allow_mmengine_checkpoint_globals() -> None:
    """Allow-list the non-tensor types in mmengine checkpoints for ``torch.load``."""
    add = getattr(torch.serialization, 'add_safe_globals', None)
    if add is None:  # torch < 2.4 loads everything anyway
        return
    add([HistoryBuffer] + _numpy_globals() +
        [(_history_buffer_method, f'{module}.getattr')
         for module in ('builtins', '__builtin__')])
