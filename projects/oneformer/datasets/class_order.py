"""The release's class order.

The released classifier rows (``class_embed`` 0..K-1) and text lists follow each
dataset's contiguous class ids, which are not always the things-first label order
mmdet needs: ADE20K's are the SceneParsing order, Cityscapes' the train ids (stuff
first), COCO's are things first. A dataset whose label order differs states the
release order as ``release_classes`` in its ``METAINFO``, beside its class table;
every rule that needs the release order (converters, text lists) derives it from
a dataset metainfo here.
"""
from typing import Optional

import numpy as np


def release_rank(metainfo: Optional[dict]) -> Optional[np.ndarray]:
    """Release class id of each label [K] (int64), or None where the label order
    is the release's (no ``release_classes`` in ``metainfo``).

    ``metainfo['classes']`` may be a subset of the release's classes in any order.
    """
    if not metainfo or metainfo.get('release_classes') is None:
        return None
    index = {name: i for i, name in enumerate(metainfo['release_classes'])}
    unknown = [name for name in metainfo['classes'] if name not in index]
    if unknown:
        raise ValueError(
            f'classes {unknown} of the dataset metainfo are not among its '
            f"release_classes; set metainfo=dict(classes=...) to names of "
            f"{tuple(index)}, or drop release_classes for a new class set")
    return np.array([index[name] for name in metainfo['classes']],
                    dtype=np.int64)


def release_sort(labels: np.ndarray, rank: Optional[np.ndarray]) -> np.ndarray:
    """``labels`` [M] sorted by release class id (by label where ``rank`` is
    None), equal labels kept together."""
    labels = np.asarray(labels, dtype=np.int64)
    if rank is None:
        return np.sort(labels)
    return labels[np.argsort(rank[labels], kind='stable')]
