"""A one-line training progress bar with ETA, for runs watched by a person."""
import sys
import time

from mmengine.hooks import Hook

from mmdet.registry import HOOKS


@HOOKS.register_module()
class TrainProgressBarHook(Hook):
    """Print ``[#####.....] 300/600  loss 12.34  elapsed 4:02  ETA 4:01`` every
    ``interval`` iterations (and at the last), on rank 0.

    Args:
        interval (int): iterations between updates. Defaults to 10.
        width (int): bar width in characters. Defaults to 30.
    """
    priority = 'VERY_LOW'

    def __init__(self, interval: int = 10, width: int = 30) -> None:
        self.interval = interval
        self.width = width
        self._start = None
        self._start_iter = 0

    def before_train(self, runner) -> None:
        self._start = time.time()
        self._start_iter = runner.iter

    def after_train_iter(self, runner, batch_idx, data_batch=None, outputs=None):
        done, total = runner.iter + 1, runner.max_iters
        if runner.rank != 0 or (done % self.interval and done != total):
            return
        elapsed = time.time() - self._start
        rate = (done - self._start_iter) / max(elapsed, 1e-9)
        eta = (total - done) / max(rate, 1e-9)
        filled = round(self.width * done / total)
        loss = runner.message_hub.get_scalar('train/loss').current()
        sys.stdout.write(
            f'[{"#" * filled}{"." * (self.width - filled)}] {done}/{total}  '
            f'loss {loss:.2f}  elapsed {_clock(elapsed)}  ETA {_clock(eta)}\n')
        sys.stdout.flush()


def add_progress_bar_for_terminal(cfg, stream=sys.stdout) -> bool:
    """Add a ``TrainProgressBarHook`` to ``cfg.custom_hooks`` (in place) when
    ``stream`` is a terminal and the config has none; True if added."""
    hooks = cfg.setdefault('custom_hooks', [])
    if not stream.isatty() or any(
            h.get('type') == 'TrainProgressBarHook' for h in hooks):
        return False
    hooks.append(dict(type='TrainProgressBarHook'))
    return True


def _clock(seconds: float) -> str:
    minutes, seconds = divmod(int(seconds), 60)
    return f'{minutes}:{seconds:02d}'
