"""Every rank's random state in every checkpoint, set again on resume.

mmengine's resume restores the weights, optimizer, schedulers, message hub and the
data position (the train loop replays the sampler), but not the global generators:
after ``--resume`` torch's RNG is back at its seeded state, so dropout, point
sampling and any other draw of the model differ from an uninterrupted run.
"""
import random
from typing import List, Optional

import numpy as np
import torch
from mmengine.dist import all_gather_object, get_dist_info
from mmengine.hooks import Hook
from mmengine.logging import print_log
from mmengine.registry import HOOKS
from mmengine.runner import IterBasedTrainLoop

CHECKPOINT_KEY = 'random_states'


def get_random_state() -> dict:
    """Python's, numpy's, torch's CPU (and CUDA) generator states of this process,
    as tensors and ints (``torch.load(weights_only=True)`` reads them)."""
    version, words, gauss = random.getstate()
    kind, keys, pos, has_gauss, cached = np.random.get_state(legacy=True)
    state = dict(
        python=(version, torch.tensor(words, dtype=torch.int64), gauss),
        numpy=(kind, torch.from_numpy(keys.astype(np.int64)), int(pos),
               int(has_gauss), float(cached)),
        torch=torch.get_rng_state())
    if torch.cuda.is_available() and torch.cuda.is_initialized():
        state['cuda'] = torch.cuda.get_rng_state_all()
    return state


def set_random_state(state: dict) -> None:
    """Inverse of :func:`get_random_state`."""
    version, words, gauss = state['python']
    random.setstate((version, tuple(words.tolist()), gauss))
    kind, keys, pos, has_gauss, cached = state['numpy']
    np.random.set_state(
        (kind, keys.numpy().astype(np.uint32), pos, has_gauss, cached))
    torch.set_rng_state(state['torch'])
    if 'cuda' in state and torch.cuda.is_available():
        torch.cuda.set_rng_state_all(state['cuda'])


class _SetStateAfterReplay:
    """The train loop's dataloader iterator that sets ``state`` once the loop has
    replayed ``replay`` batches (its skip to the resumed data position), then
    hands the loop its own iterator back."""

    def __init__(self, loop: IterBasedTrainLoop, replay: int, state: dict):
        self._loop = loop
        self._iterator = loop.dataloader_iterator
        self._left = replay
        self._state = state

    def __iter__(self):
        return self

    def __next__(self):
        batch = next(self._iterator)
        self._left -= 1
        if self._left == 0:
            set_random_state(self._state)
            self._loop.dataloader_iterator = self._iterator
        return batch


@HOOKS.register_module()
class RandomStateHook(Hook):
    """Save the random state of every rank in each checkpoint; on resume set each
    rank's generators to it where the uninterrupted run stood.

    * The states are taken after every training iteration (gathered from all ranks
      in distributed runs), before ``CheckpointHook`` saves, under the checkpoint key
      ``'random_states'`` (a list, one dict per rank).
    * On resume they are set right before the first new batch is drawn: after the
      iteration-based loop's replay of the trained batches, at the start of the
      epoch for epoch-based loops.
    * Validation leaves the generators as it found them, so a run validated at a
      checkpoint's iteration goes on as its resumed copy (which skips that
      validation).
    A checkpoint of another world size, or one without random states, resumes with
    a warning that it is not exact.
    """

    priority = 'LOW'  # after_train_iter before CheckpointHook (VERY_LOW)

    def __init__(self) -> None:
        self._states: Optional[List[dict]] = None
        self._resumed: Optional[List[dict]] = None
        self._loaded = False
        self._before_val: Optional[dict] = None

    def _gather(self) -> List[dict]:
        _, world_size = get_dist_info()
        state = get_random_state()
        return all_gather_object(state) if world_size > 1 else [state]

    def after_train_iter(self, runner, batch_idx, data_batch=None,
                         outputs=None) -> None:
        self._states = self._gather()

    def before_save_checkpoint(self, runner, checkpoint: dict) -> None:
        if self._states is not None:
            checkpoint[CHECKPOINT_KEY] = self._states

    def after_load_checkpoint(self, runner, checkpoint: dict) -> None:
        # resume and load_from both come here; only a resume (iter/epoch > 0 at
        # before_train_epoch) sets the states
        self._resumed = checkpoint.get(CHECKPOINT_KEY)
        self._loaded = True

    def before_train_epoch(self, runner) -> None:
        states, self._resumed = self._resumed, None
        loaded, self._loaded = self._loaded, False
        if not loaded or (runner.iter == 0 and runner.epoch == 0):
            return  # not resumed (or load_from for fine-tuning)
        rank, world_size = get_dist_info()
        if states is None or len(states) != world_size:
            print_log(
                'Resume is not exact: the checkpoint has '
                + ('no random states' if states is None else
                   f'the random states of {len(states)} ranks') +
                f' and this run has {world_size}; the random generators '
                'start from the seed.', logger='current', level='WARNING')
            return
        loop = runner.train_loop
        if isinstance(loop, IterBasedTrainLoop) and loop.iter > 0:
            loop.dataloader_iterator = _SetStateAfterReplay(
                loop, loop.iter, states[rank])
        else:
            set_random_state(states[rank])

    def before_val(self, runner) -> None:
        self._before_val = get_random_state()

    def after_val(self, runner) -> None:
        if self._before_val is not None:
            set_random_state(self._before_val)
            self._before_val = None
