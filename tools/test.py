"""Evaluate a clipdense model with mmengine's Runner and print the metric table.

    python tools/test.py CONFIG [CHECKPOINT] [--work-dir DIR] [--show-dir DIR] [--precision fp32|bf16|fp16]
        [--compile] [--cfg-options k=v ...]
    bash tools/dist_test.sh CONFIG CHECKPOINT|none NUM_PROCS [args]

Training-free methods need no checkpoint. ``--cfg-options model.clip.pretrained=/path/ViT-B-16.pt`` swaps
the CLIP weights of any config; ``model.vocabulary=...`` swaps the class names. ``--precision bf16`` (or fp16)
runs inference in that format (``model.precision``; fp32, the default, is exact); ``--compile`` compiles the
vision tower with torch.compile first (off by default; the first step's time, compilation included, is logged).
"""
import argparse
import os.path as osp

from mmengine.runner import Runner

from clipdense.engine import (OutputPathError, add_runner_args, check_dataset_paths, check_writable_folder,
                              dataloaders_in_use, load_runner_config, parse_runner_args, release_process_group,
                              require_checkpoint_file)
from clipdense.utils import run_cli
from clipdense.utils.precision import add_inference_args


def parse_args():
    parser = argparse.ArgumentParser(description='Evaluate a clipdense model')
    add_runner_args(parser)
    parser.add_argument('checkpoint', nargs='?', help='trained weights (not needed by training-free methods)')
    parser.add_argument('--show-dir', help='write prediction overlays into this folder (under the work dir)')
    parser.add_argument('--out', help='also save the raw predictions (.pkl) to this file')
    add_inference_args(parser)
    return parse_runner_args(parser)


def check_predictions_file(path: str) -> None:
    """``--out`` can be written by mmengine's DumpResults: checked before the evaluation, not after it."""
    if not path.endswith(('.pkl', '.pickle')):
        raise OutputPathError(f'--out {path}: the predictions are saved as a pickle; use a .pkl file name.')
    check_writable_folder(osp.dirname(osp.abspath(path)), '--out')


def main():
    args = parse_args()
    require_checkpoint_file(args.checkpoint, 'CHECKPOINT')
    if args.out:
        check_predictions_file(args.out)
    cfg = load_runner_config(args.config, args.cfg_options, args.launcher, args.work_dir)
    finished = False
    try:
        cfg.load_from = args.checkpoint
        if args.precision:
            cfg.model.precision = args.precision
        if args.compile:
            cfg.custom_hooks = list(cfg.get('custom_hooks') or []) + [dict(type='CompileTowersHook')]
        check_dataset_paths(cfg, dataloaders_in_use(cfg, 'test'))
        if args.show_dir:
            visualization = cfg.default_hooks.visualization
            visualization.draw = True
            visualization.interval = 1
            cfg.visualizer.save_dir = args.show_dir
        if args.out:
            evaluators = cfg.test_evaluator if isinstance(cfg.test_evaluator, list) else [cfg.test_evaluator]
            cfg.test_evaluator = list(evaluators) + [dict(type='DumpResults', out_file_path=args.out)]
        Runner.from_cfg(cfg).test()
        finished = True
    finally:
        release_process_group(finished)


if __name__ == '__main__':
    run_cli(main)
