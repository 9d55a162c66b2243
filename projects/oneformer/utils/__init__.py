from .atomic_backend import AtomicLocalBackend
from .checkpoint import allow_mmengine_checkpoint_globals
from .launch import build_runner, load_config, setup_cpu_distributed

__all__ = [
    'AtomicLocalBackend', 'allow_mmengine_checkpoint_globals', 'build_runner', 'load_config',
    'setup_cpu_distributed'
]
