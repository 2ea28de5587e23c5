"""Train a clipdense model with mmengine's Runner.

    python tools/train.py CONFIG [--work-dir DIR] [--resume [CKPT]] [--amp] [--cfg-options k=v ...]
    bash tools/dist_train.sh CONFIG NUM_PROCS [args]      # torchrun; gloo when there is no GPU
    bash tools/slurm_train.sh PARTITION JOB_NAME CONFIG [args]
"""
import argparse

import torch
from mmengine.runner import Runner

from clipdense.engine import (add_runner_args, check_dataset_paths, dataloaders_in_use, load_runner_config,
                              parse_runner_args, release_process_group, require_checkpoint_file)
from clipdense.utils import run_cli


def parse_args():
    parser = argparse.ArgumentParser(description='Train a clipdense model')
    add_runner_args(parser)
    parser.add_argument('--resume', nargs='?', const='auto', default=None,
                        help='resume from the given checkpoint, or from the latest one in the work dir')
    parser.add_argument('--amp', action='store_true',
                        help='automatic mixed precision (fp16 with loss scaling on GPUs, bf16 autocast on CPUs)')
    return parse_runner_args(parser)


def main():
    args = parse_args()
    cfg = load_runner_config(args.config, args.cfg_options, args.launcher, args.work_dir)
    finished = False
    try:
        if args.amp and torch.cuda.is_available():
            cfg.optim_wrapper.type = 'AmpOptimWrapper'
            cfg.optim_wrapper.setdefault('loss_scale', 'dynamic')
        elif args.amp:
            cfg.optim_wrapper.type = 'CPUAutocastOptimWrapper'
        if args.resume == 'auto':
            cfg.resume, cfg.load_from = True, None
        elif args.resume:
            cfg.resume, cfg.load_from = True, args.resume
        require_checkpoint_file(cfg.load_from, '--resume' if args.resume else 'load_from')
        check_dataset_paths(cfg, dataloaders_in_use(cfg, 'train'))
        Runner.from_cfg(cfg).train()
        finished = True
    finally:
        release_process_group(finished)


if __name__ == '__main__':
    run_cli(main)
