"""Checkpoints written whole or not at all.

mmengine's ``LocalBackend.put`` opens the checkpoint path and writes into it, so a
process killed while saving leaves a truncated ``iter_N.pth``. This backend writes a
temporary file next to it and renames it into place (``os.replace`` is atomic on
POSIX and Windows): the path holds the previous file or the complete new one.
Selected by ``CheckpointHook(backend_args=dict(backend='local_atomic'))`` (the
project's base runtimes set it).
"""
import os
import os.path as osp
from pathlib import Path
from typing import Union

import mmengine
from mmengine.fileio import LocalBackend, register_backend


class AtomicLocalBackend(LocalBackend):
    """``LocalBackend`` whose ``put`` / ``put_text`` write a temporary file in the
    target directory, fsync it, then rename it to ``filepath``."""

    def put(self, obj: bytes, filepath: Union[str, Path]) -> None:
        filepath = str(filepath)
        directory = osp.dirname(filepath) or '.'
        mmengine.mkdir_or_exist(directory)
        # in the target directory: a rename within one file system is atomic
        tmp = f'{filepath}.{os.getpid()}.tmp'
        try:
            with open(tmp, 'wb') as f:
                f.write(obj)
                f.flush()
                os.fsync(f.fileno())
            os.replace(tmp, filepath)
        except BaseException:
            if osp.exists(tmp):
                os.remove(tmp)
            raise

    def put_text(self, obj: str, filepath: Union[str, Path],
                 encoding: str = 'utf-8') -> None:
        self.put(obj.encode(encoding), filepath)


register_backend('local_atomic', AtomicLocalBackend, force=True)
