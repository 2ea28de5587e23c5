"""SAN ViT-B/16 at 640: clipdense beside mmseg's port (``MultimodalEncoderDecoder``) in the same run.

    python tools/analysis_tools/benchmark_san.py [--steps 2] [--batch-size 2] [--device cpu|cuda]
        [--precision fp32 bf16] [--images 2]

Both are built from their configs (clipdense: configs/san/san_vit-b16_coco-stuff164k-640x640.py; mmseg:
mmseg/.mim/configs/san/san-vit-b16_coco-stuff164k-640x640.py) with random weights, and measured in their own
process per setting so that peak memory (CUDA ``max_memory_allocated``, else peak RSS) is their own:

* training: full steps (forward, loss, backward, AdamW) on random 640x640 images with random labels of the 171
  classes, batch ``--batch-size``, after one untimed warm-up step (the port encodes its text there);
* inference: whole-image inference (``test_step``) of 640x853 images (a COCO 480x640 photo at the test scale),
  one at a time, after one untimed warm-up image.

``fp32`` and autocast (``bf16`` on CPUs, ``fp16`` on GPUs: what ``--amp`` gives). The ratio column is mmseg's time
over clipdense's (above 1: clipdense is faster). The reference logs 0.45 s/iter at batch 8 per GPU and 6.6 GB.
"""
import argparse
import multiprocessing as mp
import os
import resource
import statistics
import time

import torch
from benchmark_train import autocast  # this script's folder is on sys.path (also in spawned processes)

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
CLIPDENSE_CONFIG = os.path.join(ROOT, 'configs/san/san_vit-b16_coco-stuff164k-640x640.py')


def mmseg_config_path() -> str:
    import mmseg
    return os.path.join(os.path.dirname(mmseg.__file__), '.mim/configs/san/san-vit-b16_coco-stuff164k-640x640.py')


def build(implementation: str, device: str):
    from mmengine.config import Config
    if implementation == 'clipdense':
        from clipdense.registry import MODELS, register_all_modules
        register_all_modules()
        cfg = Config.fromfile(CLIPDENSE_CONFIG)
        cfg.model.clip.pretrained = None
        cfg.model.text_cache_dir = None
    else:
        from mmseg.registry import MODELS
        from mmseg.utils import register_all_modules
        register_all_modules()
        cfg = Config.fromfile(mmseg_config_path())
        cfg.model.pretrained = None
        cfg.model.data_preprocessor = cfg.data_preprocessor
    model = MODELS.build(cfg.model)
    if implementation == 'mmseg':
        # Without a pretrained file the port's init_weights() crashes, and its text tower keeps torch.empty tensors.
        text = model.text_encoder
        torch.nn.init.normal_(text.positional_embedding, std=0.01)
        torch.nn.init.normal_(text.text_projection, std=text.text_projection.shape[0] ** -0.5)
        model.decode_head.side_adapter_network.init_weights()
    return model.to(device)


def training_batch(batch_size: int, device: str):
    from mmengine.structures import PixelData
    from mmseg.structures import SegDataSample
    generator = torch.Generator().manual_seed(0)
    images = [(torch.rand(3, 640, 640, generator=generator) * 255).to(device) for _ in range(batch_size)]
    samples = []
    for _ in range(batch_size):
        labels = torch.randint(0, 171, (1, 20, 20), generator=generator)
        labels = torch.nn.functional.interpolate(labels[None].float(), size=(640, 640))[0].long()
        sample = SegDataSample(metainfo=dict(img_shape=(640, 640), ori_shape=(640, 640)))
        sample.gt_sem_seg = PixelData(data=labels.to(device))
        samples.append(sample)
    return dict(inputs=images, data_samples=samples)


def test_batch(device: str):
    from mmseg.structures import SegDataSample
    image = (torch.rand(3, 640, 853, generator=torch.Generator().manual_seed(1)) * 255).to(device)
    sample = SegDataSample(metainfo=dict(img_shape=(640, 853), ori_shape=(480, 640)))
    return dict(inputs=[image], data_samples=[sample])


def measure(implementation: str, mode: str, device: str, precision: str, steps: int, batch_size: int, queue):
    torch.manual_seed(0)
    model = build(implementation, device)
    times = []
    if mode == 'train':
        model.train()
        parameters = [p for p in model.parameters() if p.requires_grad]
        optimizer = torch.optim.AdamW(parameters, lr=1e-4, weight_decay=1e-4)
        scaler = torch.amp.GradScaler(device, enabled=precision == 'fp16')
    else:
        model.eval()
    for step in range(steps + 1):
        if device == 'cuda':
            torch.cuda.synchronize()
        start = time.perf_counter()
        if mode == 'train':
            data = model.data_preprocessor(training_batch(batch_size, device), True)
            with autocast(device, precision):
                losses = model.loss(**data)
            loss = sum(value for key, value in losses.items() if 'loss' in key)
            optimizer.zero_grad(set_to_none=True)
            scaler.scale(loss).backward()
            scaler.step(optimizer)
            scaler.update()
        else:
            with torch.no_grad(), autocast(device, precision):
                model.test_step(test_batch(device))
        if device == 'cuda':
            torch.cuda.synchronize()
        if step:
            times.append(time.perf_counter() - start)
    peak = (torch.cuda.max_memory_allocated() / 2**20 if device == 'cuda' else
            resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024)
    queue.put(dict(seconds=statistics.median(times), peak=peak))


def run(implementation: str, mode: str, args, precision: str) -> dict:
    context = mp.get_context('spawn')
    queue = context.Queue()
    steps = args.steps if mode == 'train' else args.images
    process = context.Process(target=measure, args=(implementation, mode, args.device, precision, steps,
                                                    args.batch_size, queue))
    process.start()
    result = queue.get()
    process.join()
    return result


def main():
    parser = argparse.ArgumentParser(description=__doc__.split('\n')[0])
    parser.add_argument('--steps', type=int, default=2, help='timed training steps (after one warm-up step)')
    parser.add_argument('--images', type=int, default=2, help='timed test images (after one warm-up image)')
    parser.add_argument('--batch-size', type=int, default=2)
    parser.add_argument('--device', default='cuda' if torch.cuda.is_available() else 'cpu')
    default_precisions = ['fp32', 'fp16' if torch.cuda.is_available() else 'bf16']
    parser.add_argument('--precision', nargs='+', default=default_precisions, choices=['fp32', 'bf16', 'fp16'])
    parser.add_argument('--modes', nargs='+', default=['train', 'test'], choices=['train', 'test'])
    args = parser.parse_args()
    print(f'device {args.device}; training batch {args.batch_size} of 640x640, {args.steps} timed steps; test images '
          f'640x853, {args.images} timed; random weights')
    print('| mode | precision | clipdense s | mmseg port s | port / clipdense | clipdense peak MiB | port peak MiB |')
    print('|---|---|---|---|---|---|---|')
    for mode in args.modes:
        for precision in args.precision:
            ours = run('clipdense', mode, args, precision)
            port = run('mmseg', mode, args, precision)
            unit = 's/step' if mode == 'train' else 's/image'
            print(f'| {mode} ({unit}) | {precision} | {ours["seconds"]:.2f} | {port["seconds"]:.2f} | '
                  f'{port["seconds"] / ours["seconds"]:.2f} | {ours["peak"]:.0f} | {port["peak"]:.0f} |', flush=True)


if __name__ == '__main__':
    main()
