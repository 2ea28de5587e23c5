from .checkpoint import (CheckpointError, CheckpointNotFoundError, allow_mmengine_checkpoints, load_local_checkpoint,
                         require_checkpoint_file)
from .hooks import CompileTowersHook, TextTowerHook
from .optim_wrappers import CPUAutocastOptimWrapper
from .launch import (ConfigError, ConfigNotFoundError, DatasetNotFoundError, OutputPathError, add_runner_args,
                     check_dataset_paths, check_writable_folder, dataloaders_in_use, init_cpu_process_group,
                     load_config, load_runner_config, merge_cfg_options, parse_runner_args, release_process_group)

__all__ = [
    'CompileTowersHook', 'TextTowerHook', 'CPUAutocastOptimWrapper', 'allow_mmengine_checkpoints',
    'load_local_checkpoint', 'require_checkpoint_file',
    'CheckpointError', 'CheckpointNotFoundError', 'init_cpu_process_group', 'load_runner_config', 'load_config',
    'merge_cfg_options', 'check_dataset_paths', 'check_writable_folder', 'dataloaders_in_use', 'ConfigError',
    'ConfigNotFoundError', 'DatasetNotFoundError', 'OutputPathError', 'add_runner_args', 'parse_runner_args',
    'release_process_group'
]
