"""Which checkpoint ``tools/train.py --resume`` resumes, checked before training.

mmengine resumes ``work_dir/last_checkpoint`` without a look at it: with no such file
it logs "Auto resumed from the latest checkpoint None." and trains from iteration 0,
and a truncated file fails deep inside ``torch.load``.
"""
import glob
import logging
import os.path as osp
import re
import zipfile
from typing import Optional

from mmengine.logging import print_log


def is_complete_checkpoint(path: str) -> bool:
    """Whether ``path`` is a whole ``torch.save`` file (a zip archive whose central
    directory, written last, is there)."""
    return osp.isfile(path) and zipfile.is_zipfile(path)


def _complete_checkpoints(work_dir: str) -> list:
    """The complete ``iter_N.pth`` / ``epoch_N.pth`` of ``work_dir``, newest
    last."""
    found = []
    for path in glob.glob(osp.join(work_dir, '*_*.pth')):
        match = re.fullmatch(r'(iter|epoch)_(\d+)\.pth', osp.basename(path))
        if match and is_complete_checkpoint(path):
            found.append((int(match[2]), path))
    return [path for _, path in sorted(found)]


def _broken(path: str, why: str, work_dir: str) -> ValueError:
    candidates = _complete_checkpoints(work_dir) if work_dir else []
    hint = (f'resume from the newest complete one: --resume {candidates[-1]}'
            if candidates else 'train without --resume')
    return ValueError(f'--resume: {path} {why}; {hint}')


def resume_checkpoint(resume: str, work_dir: str) -> Optional[str]:
    """The checkpoint to resume: ``resume`` itself, or for ``'auto'`` the one
    ``work_dir/last_checkpoint`` names (None, with a warning, when the work dir has
    none: the run starts at iteration 0).

    Raises:
        ValueError: naming the file when it is missing or not a complete
            checkpoint, and the newest complete checkpoint of the work dir.
    """
    if resume != 'auto':
        if not osp.isfile(resume):
            raise _broken(resume, 'does not exist', work_dir)
        if not is_complete_checkpoint(resume):
            raise _broken(resume, 'is not a complete checkpoint (truncated?)',
                          work_dir)
        return resume
    pointer = osp.join(work_dir, 'last_checkpoint')
    if not osp.isfile(pointer):
        print_log(f'--resume: no checkpoint to resume in {work_dir} (no '
                  'last_checkpoint file); training starts at iteration 0.',
                  logger='current', level=logging.WARNING)
        return None
    with open(pointer) as f:
        path = f.read().strip()
    if not path:
        raise _broken(pointer, 'is empty', work_dir)
    if not osp.isfile(path):
        raise _broken(path, f'(named by {pointer}) does not exist', work_dir)
    if not is_complete_checkpoint(path):
        raise _broken(path, f'(named by {pointer}) is not a complete checkpoint '
                      '(truncated?)', work_dir)
    return path
