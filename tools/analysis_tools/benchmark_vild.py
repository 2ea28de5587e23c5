"""ViLD R50-FPN at 1024 × 1024: training-step and inference speed and peak memory, with clipdense's RoIAlign and
mmcv's side by side.

    python tools/analysis_tools/benchmark_vild.py [--config configs/vild/vild_r50_fpn_lsj-180k_ov-lvis.py]
        [--steps 2] [--batch-size 2] [--device cpu|cuda] [--roi-ops clipdense mmcv]

Random weights (speed does not depend on them; the text side is a random ViT-B/32 text tower with one template),
random images with 10 random boxes and masks each and 300 random distillation regions per image (ViLD: the sampled
RoIs and the regions pass the box head together). Each setting runs in its own process so that its peak memory is
its own (CUDA ``max_memory_allocated``, else peak RSS); the first step warms up and is not timed. Inference is
``predict`` on one 1024 × 1024 image (1000 proposals, 300 detections with masks).
"""
import argparse
import multiprocessing as mp
import os
import statistics
import sys

import numpy as np
import torch

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from benchmark_train import peak_memory_mib, run_in_process, timed  # noqa: E402

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
SIZE = 1024


def build(config: str, roi_ops: str, device: str):
    from mmengine.config import Config

    from clipdense.registry import MODELS, register_all_modules
    register_all_modules()
    cfg = Config.fromfile(os.path.join(ROOT, config))
    cfg.model.clip.pretrained = None
    cfg.model.text_cache_dir = None
    cfg.model.templates = ['{}']  # the text is encoded once at build; its templates do not change a step
    for extractor in ('bbox_roi_extractor', 'mask_roi_extractor'):
        cfg.model.roi_head[extractor].roi_layer.type = f'{roi_ops}.RoIAlign'
    for norm_owner in (cfg.model.backbone, cfg.model.roi_head.bbox_head, cfg.model.roi_head.mask_head):
        norm_owner.norm_cfg = dict(type='BN', requires_grad=True)  # one process: SyncBN would need a group
    cfg.model.roi_head.bbox_head.fc_norm_cfg = dict(type='BN1d')
    if 'image_bbox_head' in cfg.model.roi_head:
        cfg.model.roi_head.image_bbox_head.update(norm_cfg=dict(type='BN'), fc_norm_cfg=dict(type='BN1d'))
    return MODELS.build(cfg.model).to(device)


def random_batch(batch_size: int, embed_dim: int, device: str):
    from mmdet.structures import DetDataSample
    from mmdet.structures.mask import BitmapMasks
    from mmengine.structures import InstanceData
    rng = np.random.default_rng(0)
    inputs = torch.from_numpy(rng.normal(size=(batch_size, 3, SIZE, SIZE)).astype(np.float32)).to(device)
    samples = []
    for _ in range(batch_size):
        corners = rng.uniform(0, SIZE - 64, (10, 2))
        boxes = np.concatenate([corners, corners + rng.uniform(16, 64 * 4, (10, 2))], axis=1).clip(0, SIZE)
        masks = np.zeros((10, SIZE, SIZE), dtype=np.uint8)
        for mask, (x1, y1, x2, y2) in zip(masks, boxes.astype(int)):
            mask[y1:y2, x1:x2] = 1
        region_corners = rng.uniform(0, SIZE - 64, (300, 2))
        sample = DetDataSample(metainfo=dict(
            img_shape=(SIZE, SIZE), pad_shape=(SIZE, SIZE), batch_input_shape=(SIZE, SIZE), ori_shape=(SIZE, SIZE),
            scale_factor=(1.0, 1.0), homography_matrix=np.eye(3, dtype=np.float32),
            region_boxes=np.concatenate([region_corners, region_corners + 64], axis=1).astype(np.float32),
            region_embeddings=rng.normal(size=(300, embed_dim)).astype(np.float32)))
        sample.gt_instances = InstanceData(bboxes=torch.from_numpy(boxes).float(),
                                           labels=torch.from_numpy(rng.integers(0, 10, 10)),
                                           masks=BitmapMasks(masks, SIZE, SIZE)).to(device)
        samples.append(sample)
    return inputs, samples


def measure_training(config: str, roi_ops: str, device: str, steps: int, batch_size: int, queue) -> None:
    torch.manual_seed(0)
    model = build(config, roi_ops, device).train()
    optimizer = torch.optim.SGD(model.parameters(), lr=1e-3, momentum=0.9)
    embed_dim = model.roi_head.bbox_head.fc_cls.projection.out_features
    inputs, samples = random_batch(batch_size, embed_dim, device)

    def step():
        losses = model.loss(inputs, samples)
        loss, _ = model.parse_losses(losses)
        optimizer.zero_grad(set_to_none=True)
        loss.backward()
        optimizer.step()

    times = [timed(step, device) for _ in range(steps + 1)][1:]
    queue.put(dict(seconds=statistics.median(times), peak=peak_memory_mib(device)))


def measure_inference(config: str, roi_ops: str, device: str, steps: int, queue) -> None:
    torch.manual_seed(0)
    model = build(config, roi_ops, device).eval()
    inputs, samples = random_batch(1, 1, device)

    def predict():
        with torch.no_grad():
            model.predict(inputs, samples)

    times = [timed(predict, device) for _ in range(steps + 1)][1:]
    queue.put(dict(seconds=statistics.median(times), peak=peak_memory_mib(device)))


def main():
    parser = argparse.ArgumentParser(description=__doc__.split('\n')[0])
    parser.add_argument('--config', default='configs/vild/vild_r50_fpn_lsj-180k_ov-lvis.py')
    parser.add_argument('--steps', type=int, default=2, help='timed steps (after one warm-up step)')
    parser.add_argument('--batch-size', type=int, default=2)
    parser.add_argument('--device', default='cuda' if torch.cuda.is_available() else 'cpu')
    parser.add_argument('--roi-ops', nargs='+', default=['clipdense', 'mmcv'], choices=['clipdense', 'mmcv'])
    args = parser.parse_args()
    context = mp.get_context('spawn')
    print(f'{args.config}, device {args.device}, {SIZE}x{SIZE}, training batch {args.batch_size}, '
          f'{args.steps} timed steps; random weights and inputs')
    print('| RoIAlign | train s/step | train images/s | train peak MiB | inference s/image | inference images/s '
          '| inference peak MiB |\n|---|---|---|---|---|---|---|')
    for roi_ops in args.roi_ops:
        training = run_in_process(context, measure_training, args.config, roi_ops, args.device, args.steps,
                                  args.batch_size)
        inference = run_in_process(context, measure_inference, args.config, roi_ops, args.device, args.steps)
        if training is None or inference is None:
            continue
        print(f'| {roi_ops} | {training["seconds"]:.2f} | {args.batch_size / training["seconds"]:.2f} | '
              f'{training["peak"]:.0f} | {inference["seconds"]:.2f} | {1 / inference["seconds"]:.2f} | '
              f'{inference["peak"]:.0f} |', flush=True)


if __name__ == '__main__':
    main()
