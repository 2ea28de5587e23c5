"""Training-step and inference speed, peak memory, trainable parameters and MACs of the trained methods.

    python tools/analysis_tools/benchmark_train.py [--methods zegclip-voc zegclip-coco fcclip] [--steps 3]
        [--batch-size 2] [--device cpu|cuda] [--precision fp32 bf16 fp16]

Each method is built from its config with random CLIP weights (speed does not depend on them) and runs full
training steps (forward, loss, backward, optimiser) on random images of its crop size and random labels, in fp32
and under autocast (``bf16`` on CPUs with bf16 instructions, ``fp16``/``bf16`` on GPUs: what ``--amp`` gives),
each setting in its own process so that peak memory is its own (CUDA ``max_memory_allocated``, else peak RSS).
The first step is a warm-up and is not timed. Methods that infer on whole images at another size than their
training crop (FC-CLIP: trained on 1024² crops, tested at short side 800: an 800 × 1088 padded input) are also timed
at inference (``predict`` on one image, images/s and peak memory, in their own processes).

MACs are counted for one crop at inference with torch's FlopCounterMode, attention matmuls included (the
reference's "FLOPs" are fvcore MACs of one 512×512 window with precomputed text: 110.4 G for ZegCLIP VOC,
123.9 G for COCO-Stuff). Frozen parts record no autograd graph (ZegCLIP's patch embedding); that is what the
printed "frozen without graph" column checks.
"""
import argparse
import multiprocessing as mp
import os
import resource
import statistics
import time

import torch

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
METHODS = {
    # name: (config, reference trainable parameters, reference G-MACs)
    'zegclip-voc': ('configs/zegclip/zegclip_vit-b16_voc12aug-512x512_inductive.py', '13.8M', 110.4),
    'zegclip-coco': ('configs/zegclip/zegclip_vit-b16_coco-stuff164k-512x512_inductive.py', '14.6M', 123.9),
    'fcclip': ('configs/fcclip/fcclip_convnext-l_coco-panoptic-1024x1024.py', '20.7M (20,721,601)', None),
}
# Whole-image inference sizes (padded input), where they differ from the training crop.
INFERENCE_SIZES = {'fcclip': (800, 1088)}


def build(method: str, device: str):
    from mmengine.config import Config

    from clipdense.registry import MODELS, register_all_modules
    register_all_modules()
    cfg = Config.fromfile(os.path.join(ROOT, METHODS[method][0]))
    cfg.model.clip.pretrained = None
    cfg.model.text_cache_dir = None
    cfg.model.templates = 'photo'  # the text is encoded once at build; its templates do not change a step
    model = MODELS.build(cfg.model).to(device)
    return model, cfg


def random_batch(model, cfg, batch_size: int, device: str):
    from mmengine.structures import PixelData
    from mmseg.structures import SegDataSample
    height, width = cfg.model.data_preprocessor['size']
    generator = torch.Generator().manual_seed(0)
    inputs = torch.randn(batch_size, 3, height, width, generator=generator).to(device)
    samples = []
    for _ in range(batch_size):
        sample = SegDataSample(metainfo=dict(img_shape=(height, width), ori_shape=(height, width)))
        labels = torch.randint(0, model.num_classes, (1, height, width), generator=generator)
        sample.gt_sem_seg = PixelData(data=labels.to(device))
        samples.append(sample)
    return inputs, samples


def autocast(device: str, precision: str):
    if precision == 'fp32':
        return torch.autocast(device_type=device, enabled=False)
    return torch.autocast(device_type=device, dtype=torch.bfloat16 if precision == 'bf16' else torch.float16)


def timed(work, device: str) -> float:
    """Seconds ``work()`` takes, the device synchronised before and after."""
    if device == 'cuda':
        torch.cuda.synchronize()
    start = time.perf_counter()
    work()
    if device == 'cuda':
        torch.cuda.synchronize()
    return time.perf_counter() - start


def peak_memory_mib(device: str) -> float:
    """This process's peak memory: CUDA ``max_memory_allocated``, else peak RSS."""
    if device == 'cuda':
        return torch.cuda.max_memory_allocated() / 2**20
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def measure(method: str, device: str, precision: str, steps: int, batch_size: int, queue) -> None:
    torch.manual_seed(0)
    model, cfg = build(method, device)
    model.train()
    parameters = [p for p in model.parameters() if p.requires_grad]
    optimizer = torch.optim.AdamW(parameters, lr=1e-4, weight_decay=0.01)
    scaler = torch.amp.GradScaler(device, enabled=precision == 'fp16')

    def train_step(inputs, samples):
        with autocast(device, precision):
            losses = model.loss(inputs, samples)
        loss = sum(value for key, value in losses.items() if 'loss' in key)
        optimizer.zero_grad(set_to_none=True)
        scaler.scale(loss).backward()
        scaler.step(optimizer)
        scaler.update()

    times = []
    for step in range(steps + 1):
        inputs, samples = random_batch(model, cfg, batch_size, device)
        seconds = timed(lambda: train_step(inputs, samples), device)
        if step:  # the first step warms up
            times.append(seconds)
    embedding_graph = _patch_embedding_records_graph(model, cfg, device)
    queue.put(dict(step=statistics.median(times), peak=peak_memory_mib(device),
                   trainable=sum(p.numel() for p in parameters), frozen_without_graph=not embedding_graph))


def _patch_embedding_records_graph(model, cfg, device: str) -> bool:
    """Whether the frozen CLIP's first convolution (the patch embedding or the stem) outputs an autograd graph in
    training."""
    recorded = []
    first_conv = next(module for module in model.backbone.modules() if isinstance(module, torch.nn.Conv2d))
    handle = first_conv.register_forward_hook(lambda module, args, output: recorded.append(output.requires_grad))
    inputs, _ = random_batch(model, cfg, 1, device)
    model.extract_feat(inputs)
    handle.remove()
    return any(recorded)


def measure_inference(method: str, device: str, precision: str, steps: int, queue) -> None:
    """Seconds per image of ``predict`` (whole image, batch 1) at the method's inference size, and peak memory."""
    torch.manual_seed(0)
    model, _ = build(method, device)
    model.eval()
    inputs = torch.randn(1, 3, *INFERENCE_SIZES[method], device=device)

    def predict():
        with torch.no_grad(), autocast(device, precision):
            model.predict(inputs)

    times = [timed(predict, device) for _ in range(steps + 1)][1:]  # the first call warms up
    queue.put(dict(step=statistics.median(times), peak=peak_memory_mib(device)))


def count_macs(method: str) -> float:
    """G-MACs of one crop at inference (FlopCounterMode counts 2 FLOPs per MAC; attention matmuls included)."""
    from torch.utils.flop_counter import FlopCounterMode
    model, cfg = build(method, 'cpu')
    model.eval().requires_grad_(False)  # torch's module tracker expects a graph for tensors that require grad
    inputs, _ = random_batch(model, cfg, 1, 'cpu')
    counter = FlopCounterMode(display=False)
    # nn.MultiheadAttention's fused inference path is one op the counter has no formula for: count the unfused one.
    fast_path = torch.backends.mha.get_fastpath_enabled()
    torch.backends.mha.set_fastpath_enabled(False)
    try:
        with torch.no_grad(), counter, torch.nn.attention.sdpa_kernel(torch.nn.attention.SDPBackend.MATH):
            model._forward(inputs)
    finally:
        torch.backends.mha.set_fastpath_enabled(fast_path)
    return counter.get_total_flops() / 2 / 1e9


def main():
    parser = argparse.ArgumentParser(description=__doc__.split('\n')[0])
    parser.add_argument('--methods', nargs='+', default=list(METHODS), choices=list(METHODS))
    parser.add_argument('--steps', type=int, default=3, help='timed steps (after one warm-up step)')
    parser.add_argument('--batch-size', type=int, default=2)
    parser.add_argument('--device', default='cuda' if torch.cuda.is_available() else 'cpu')
    default_precisions = ['fp32', 'fp16' if torch.cuda.is_available() else 'bf16']
    parser.add_argument('--precision', nargs='+', default=default_precisions, choices=['fp32', 'bf16', 'fp16'])
    args = parser.parse_args()
    context = mp.get_context('spawn')
    print(f'device {args.device}, batch {args.batch_size}, {args.steps} timed steps; random weights and inputs')
    print('| method | precision | s/step | images/s | peak MiB | trainable | reference trainable | G-MACs (1 crop) '
          '| reference G-MACs | frozen without graph |')
    print('|---|---|---|---|---|---|---|---|---|---|')
    inference = []
    for method in args.methods:
        macs = count_macs(method)
        for precision in args.precision:
            result = run_in_process(context, measure, method, args.device, precision, args.steps, args.batch_size)
            _, reference_params, reference_macs = METHODS[method]
            if result is None:
                continue
            print(f'| {method} | {precision} | {result["step"]:.2f} | {args.batch_size / result["step"]:.2f} | '
                  f'{result["peak"]:.0f} | {result["trainable"]:,} | {reference_params} | {macs:.1f} | '
                  f'{reference_macs or "-"} | {result["frozen_without_graph"]} |', flush=True)
            if method in INFERENCE_SIZES:
                inference.append((method, precision, run_in_process(context, measure_inference, method, args.device,
                                                                    precision, args.steps)))
    if inference:
        print('\n| method | precision | inference input | s/image | images/s | peak MiB |\n|---|---|---|---|---|---|')
        for method, precision, result in inference:
            if result is None:
                continue
            height, width = INFERENCE_SIZES[method]
            print(f'| {method} | {precision} | {height}x{width} | {result["step"]:.2f} | {1 / result["step"]:.2f} | '
                  f'{result["peak"]:.0f} |')


def run_in_process(context, target, *args):
    """``target(*args, queue)`` in a fresh process (its peak memory its own); what it puts on the queue, or None when
    the process dies first (e.g. killed for memory), which is reported instead of waiting for ever."""
    import queue as queues
    results = context.Queue()
    process = context.Process(target=target, args=(*args, results))
    process.start()
    while True:
        try:
            result = results.get(timeout=5)
            break
        except queues.Empty:
            if not process.is_alive():
                print(f'{target.__name__}{args[:3]} died (exit code {process.exitcode}; '
                      f'{"killed: out of memory?" if process.exitcode == -9 else "see above"})', flush=True)
                result = None
                break
    process.join()
    return result


if __name__ == '__main__':
    main()
