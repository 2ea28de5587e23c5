from .checkpoint import allow_mmengine_checkpoints, load_local_checkpoint
from .launch import (add_runner_args, init_cpu_process_group, load_runner_config, parse_runner_args,
                     release_process_group)

__all__ = ['allow_mmengine_checkpoints', 'load_local_checkpoint', 'init_cpu_process_group', 'load_runner_config',
           'add_runner_args', 'parse_runner_args', 'release_process_group']
