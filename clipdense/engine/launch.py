"""What tools/train.py and tools/test.py share: the config, its overrides, the work dir and the launcher."""
import argparse
import os
import os.path as osp
from typing import Optional

import torch
import torch.distributed as dist
from mmengine.config import Config, DictAction
from mmengine.logging import print_log

from clipdense.registry import register_all_modules


def add_runner_args(parser: argparse.ArgumentParser) -> None:
    """The arguments both tools take: the config, ``--work-dir``, ``--cfg-options`` and the launcher."""
    parser.add_argument('config', help='config file')
    parser.add_argument('--work-dir', help='where logs and outputs go (default: work_dirs/<config name>)')
    parser.add_argument('--cfg-options', nargs='+', action=DictAction, metavar='KEY=VALUE',
                        help='override config entries, e.g. model.clip.pretrained=/path/ViT-B-16.pt')
    parser.add_argument('--launcher', choices=['none', 'pytorch', 'slurm'], default='none')
    parser.add_argument('--local_rank', '--local-rank', type=int, default=0)


def parse_runner_args(parser: argparse.ArgumentParser) -> argparse.Namespace:
    args = parser.parse_args()
    os.environ.setdefault('LOCAL_RANK', str(args.local_rank))
    return args


def load_runner_config(config: str, cfg_options: Optional[dict] = None, launcher: str = 'none',
                       work_dir: Optional[str] = None) -> Config:
    """The config with ``--cfg-options`` merged, the launcher set and a work dir (default
    ``work_dirs/<config name>``); starts the CPU process group when there is no GPU."""
    register_all_modules()
    cfg = Config.fromfile(config)
    if cfg_options:
        cfg.merge_from_dict(cfg_options)
    cfg.launcher = launcher
    cfg.work_dir = work_dir or cfg.get('work_dir') or osp.join('work_dirs', osp.splitext(osp.basename(config))[0])
    if launcher != 'none' and not torch.cuda.is_available():
        init_cpu_process_group(launcher)
        # mmengine's default wrapper pins DDP to device LOCAL_RANK, which only exists on GPUs.
        wrapper = dict(cfg.get('model_wrapper_cfg') or dict(type='MMDistributedDataParallel'))
        wrapper['device_ids'] = None
        cfg.model_wrapper_cfg = wrapper
    return cfg


def init_cpu_process_group(launcher: str) -> None:
    """Distributed runs without a GPU communicate over gloo.

    mmengine's launchers pin every process to a CUDA device first, which fails without one; a process group
    that already exists makes mmengine's Runner skip its own initialisation.
    """
    if launcher != 'pytorch':
        raise RuntimeError(f"the {launcher!r} launcher needs GPUs; on CPUs start the processes with torchrun "
                           '(tools/dist_train.sh, tools/dist_test.sh, --launcher pytorch).')
    if not dist.is_initialized():
        os.environ.setdefault('LOCAL_RANK', '0')
        dist.init_process_group(backend='gloo')
        print_log(f'no GPU: process {dist.get_rank()} of {dist.get_world_size()} communicates over gloo',
                  logger='current')


def release_process_group() -> None:
    """Tear the process group down before the interpreter exits: a gloo group left to interpreter shutdown
    can abort the process ("terminate called without an active exception")."""
    if dist.is_available() and dist.is_initialized():
        dist.destroy_process_group()
