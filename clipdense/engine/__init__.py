from .checkpoint import allow_mmengine_checkpoints, load_local_checkpoint
from .launch import init_cpu_process_group, load_runner_config

__all__ = ['allow_mmengine_checkpoints', 'load_local_checkpoint', 'init_cpu_process_group', 'load_runner_config']
