"""Evaluate a clipdense model with mmengine's Runner and print the metric table.

    python tools/test.py CONFIG [CHECKPOINT] [--work-dir DIR] [--show-dir DIR] [--cfg-options k=v ...]
    bash tools/dist_test.sh CONFIG CHECKPOINT|none NUM_PROCS [args]

Training-free methods need no checkpoint. ``--cfg-options model.clip.pretrained=/path/ViT-B-16.pt`` swaps
the CLIP weights of any config; ``model.vocabulary=...`` swaps the class names.
"""
import argparse

from mmengine.runner import Runner

from clipdense.engine import add_runner_args, load_runner_config, parse_runner_args, release_process_group


def parse_args():
    parser = argparse.ArgumentParser(description='Evaluate a clipdense model')
    add_runner_args(parser)
    parser.add_argument('checkpoint', nargs='?', help='trained weights (not needed by training-free methods)')
    parser.add_argument('--show-dir', help='write prediction overlays into this folder (under the work dir)')
    parser.add_argument('--out', help='also save the raw predictions (.pkl) to this file')
    return parse_runner_args(parser)


def main():
    args = parse_args()
    cfg = load_runner_config(args.config, args.cfg_options, args.launcher, args.work_dir)
    cfg.load_from = args.checkpoint
    if args.show_dir:
        visualization = cfg.default_hooks.visualization
        visualization.draw = True
        visualization.interval = 1
        cfg.visualizer.save_dir = args.show_dir
    if args.out:
        evaluators = cfg.test_evaluator if isinstance(cfg.test_evaluator, list) else [cfg.test_evaluator]
        cfg.test_evaluator = list(evaluators) + [dict(type='DumpResults', out_file_path=args.out)]
    try:
        Runner.from_cfg(cfg).test()
    finally:
        release_process_group()


if __name__ == '__main__':
    main()
