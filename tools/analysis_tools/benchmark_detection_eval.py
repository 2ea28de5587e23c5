"""Evaluation cost of the open-vocabulary detectors on the synthetic world: images/s of a whole ``tools/test.py``
evaluation (data, model, post-processing, the OV-COCO metric), RegionCLIP beside ViLD.

    python tools/analysis_tools/benchmark_detection_eval.py [--data-root data/synthetic_world] [--images 40]
        [--settings regionclip regionclip-soft-nms vild]

RegionCLIP's users report COCO evaluations of about an hour (microsoft/RegionCLIP#55). Each setting is its
synthetic-world config run by mmengine's test loop on the validation scenes, with the embedded tiny CLIPs and the
heads (and RegionCLIP's offline RPN) at their initial random weights: untrained heads score every class of every
proposal alike, so the NMS sees the most candidates it can (the worst case). Reported per setting: images/s of the
whole evaluation, the share spent in the metric (COCOeval), and the detections per image it kept. Without
``--data-root`` a synthetic world of ``--images`` validation scenes is written to a temporary folder.

- ``regionclip``: configs/regionclip/regionclip_clipdense-tiny-resnet-c4_synthetic-world.py (hard NMS 0.5);
- ``regionclip-soft-nms``: the same with the reference's evaluation, detectron2's gaussian soft-NMS (sigma 0.5,
  prune 0.001), as configs/regionclip/regionclip_r50-c4_ov-coco.py evaluates;
- ``vild``: configs/vild/vild_r18-tiny-fpn_clipdense-tiny_synthetic-world.py.
"""
import argparse
import os
import os.path as osp
import tempfile
import time

import torch

ROOT = osp.dirname(osp.dirname(osp.dirname(osp.abspath(__file__))))
REGIONCLIP = 'configs/regionclip/regionclip_clipdense-tiny-resnet-c4_synthetic-world.py'
SETTINGS = {
    'regionclip': (REGIONCLIP, {}),
    'regionclip-soft-nms': (REGIONCLIP, {'model.test_cfg.rcnn.nms': dict(
        type='detectron2_soft_nms', method='gaussian', sigma=0.5, min_score=0.001, iou_threshold=0.5)}),
    'vild': ('configs/vild/vild_r18-tiny-fpn_clipdense-tiny_synthetic-world.py', {}),
}


def parse_args():
    parser = argparse.ArgumentParser(description=__doc__.split('\n')[0])
    parser.add_argument('--data-root', help='a synthetic world (tools/make_synthetic_world.py); default: a new one')
    parser.add_argument('--images', type=int, default=40, help='validation scenes of a new synthetic world')
    parser.add_argument('--settings', nargs='+', choices=sorted(SETTINGS), default=sorted(SETTINGS))
    parser.add_argument('--threads', type=int, default=None, help='torch threads (default: torch\'s)')
    return parser.parse_args()


def evaluation_config(setting: str, data_root: str, work_dir: str):
    from mmengine.config import Config
    path, options = SETTINGS[setting]
    cfg = Config.fromfile(osp.join(ROOT, path))
    cfg.merge_from_dict(options)
    for loader in ('val_dataloader', 'test_dataloader'):
        cfg[loader].dataset.data_root = data_root
        cfg[loader].num_workers = 0
        cfg[loader].persistent_workers = False
    for evaluator in ('val_evaluator', 'test_evaluator'):
        cfg[evaluator].ann_file = osp.join(data_root, 'annotations', 'instances_val.json')
    if cfg.model.get('offline_rpn') is not None:
        cfg.model.offline_rpn.checkpoint = None  # random weights (the worst case, see the module docstring)
    cfg.model.text_cache_dir = None
    cfg.train_dataloader = cfg.train_cfg = cfg.optim_wrapper = cfg.param_scheduler = None
    cfg.val_cfg = None
    cfg.val_dataloader = cfg.val_evaluator = None
    cfg.work_dir = work_dir
    cfg.randomness = dict(seed=0)
    cfg.default_hooks.logger.interval = 10**6
    return cfg


def measure(setting: str, data_root: str, work_dir: str) -> dict:
    from mmengine.runner import Runner
    runner = Runner.from_cfg(evaluation_config(setting, data_root, work_dir))
    metric_time, detections = [0.0], []
    evaluator = runner.test_loop.evaluator
    evaluate, process = evaluator.evaluate, evaluator.process

    def timed_evaluate(*args, **kwargs):
        start = time.perf_counter()
        result = evaluate(*args, **kwargs)
        metric_time[0] += time.perf_counter() - start
        return result

    def counted_process(data_samples, data_batch=None):
        detections.extend(len(sample.pred_instances) for sample in data_samples)
        return process(data_samples, data_batch)

    evaluator.evaluate, evaluator.process = timed_evaluate, counted_process
    start = time.perf_counter()
    metrics = runner.test()
    total = time.perf_counter() - start
    images = len(runner.test_dataloader.dataset)
    return dict(images=images, seconds=total, images_per_s=images / total, metric_share=metric_time[0] / total,
                detections=sum(detections) / max(len(detections), 1), ap50=metrics.get('coco/bbox_AP50_all'))


def main():
    args = parse_args()
    if args.threads:
        torch.set_num_threads(args.threads)
    from clipdense.registry import register_all_modules
    register_all_modules()
    with tempfile.TemporaryDirectory() as scratch:
        data_root, source = args.data_root, args.data_root
        if data_root is None:
            source = f'a new synthetic world, {args.images} validation scenes of seed 0'
            from clipdense.datasets.synthetic import write_synthetic_world
            data_root = osp.join(scratch, 'synthetic_world')
            write_synthetic_world(data_root, num_train=1, num_val=args.images, seed=0)
        if not osp.isfile(osp.join(data_root, 'annotations', 'instances_val.json')):
            raise SystemExit(f'{data_root} holds no annotations/instances_val.json: write a synthetic world with '
                             'python tools/make_synthetic_world.py DIR, or leave out --data-root')
        results = {setting: measure(setting, data_root, osp.join(scratch, setting)) for setting in args.settings}
    print(f'\nEvaluation on {source}, untrained heads, torch threads '
          f'{torch.get_num_threads()}:')
    print('| setting | images | seconds | images/s | metric share | detections/image |')
    print('|---|---|---|---|---|---|')
    for setting, result in results.items():
        print(f'| {setting} | {result["images"]} | {result["seconds"]:.1f} | {result["images_per_s"]:.2f} | '
              f'{100 * result["metric_share"]:.1f} % | {result["detections"]:.0f} |')
    if 'vild' in results:
        for setting, result in results.items():
            if setting != 'vild':
                print(f'{setting}: {result["images_per_s"] / results["vild"]["images_per_s"]:.2f}x ViLD\'s images/s')


if __name__ == '__main__':
    main()
