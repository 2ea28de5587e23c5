"""Speed and memory of the training-free methods against a faithful one-window-at-a-time loop.

    python tools/analysis_tools/benchmark_trainfree.py [--methods sclip clearclip naclip maskclip]
        [--images 3] [--device cpu|cuda] [--amp]

Each method runs at its ADE20K protocol (ViT-B/16 architecture, random weights: speed does not depend on the
weights) on random images of ADE's typical size (512×683 before the protocol's resize). Two pipelines are
timed in the same run, each in its own process so that peak memory is its own:

* ``clipdense``: the segmentor as shipped (all windows of an image in one backbone batch, the dense-attention
  op chosen at build time, no dead compute);
* ``reference loop``: what the reference repositories do: one window per forward, last-block attention as a
  bmm/softmax chain, ClearCLIP's discarded full last block computed anyway, each window's logits padded
  to the full image and accumulated.

Text start-up is reported separately: encoding a vocabulary with the 80 templates at the full 77-token context
(the references, every start) against clipdense's context cut (and its disk cache, which makes later starts
free). Peak memory: CUDA ``max_memory_allocated``; on the CPU the process's peak RSS.
"""
import argparse
import multiprocessing as mp
import os
import resource
import statistics
import sys
import time

import torch
import torch.nn.functional as F

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
CONFIGS = {
    'maskclip': 'configs/maskclip/maskclip_vit-b16_ade20k.py',
    'sclip': 'configs/sclip/sclip_vit-b16_ade20k.py',
    'clearclip': 'configs/clearclip/clearclip_vit-b16_ade20k.py',
    'naclip': 'configs/naclip/naclip_vit-b16_ade20k.py',
}


def build(method: str, device: str):
    from clipdense.apis import init_model
    options = {'model.clip.pretrained': None, 'model.templates': 'photo', 'model.text_cache_dir': None}
    return init_model(os.path.join(ROOT, CONFIGS[method]), device=device, cfg_options=options)


def protocol_inputs(model, count: int, device: str):
    """Random images of ADE's typical size through the config's own test pipeline and preprocessor."""
    from mmengine.dataset import Compose, pseudo_collate
    import numpy as np

    steps = [dict(s) for s in model.cfg.test_pipeline if 'LoadAnnotations' not in s['type']]
    steps[0] = dict(type='LoadImageFromNDArray')
    pipeline = Compose(steps)
    rng = np.random.RandomState(0)
    batches = []
    for _ in range(count):
        image = rng.randint(0, 255, (512, 683, 3), dtype=np.uint8)
        data = model.data_preprocessor(pseudo_collate([pipeline(dict(img=image))]), False)
        batches.append((data['inputs'].to(device), data['data_samples']))
    return batches


class ReferenceLoop:
    """The references' inference loop on the same model weights."""

    def __init__(self, model):
        from clipdense.models.clip import ClearCLIPLastBlock
        from clipdense.ops.reference import dense_attention_reference
        self.model = model
        block = model.encoder.last_block
        if block is not None:
            block.attention_by_device = {device.type: dense_attention_reference
                                         for device in (torch.device('cpu'), torch.device('cuda'))}
        self.dead_compute = isinstance(block, ClearCLIPLastBlock)

    def window_cosine(self, window):
        model = self.model
        if self.dead_compute:  # ClearCLIP's reference also runs CLIP's last block and throws it away
            tower = model.encoder.tower
            tower.run_blocks(tower.embed(window)[0])
        return model.window_cosine(window)

    def __call__(self, inputs, data_samples):
        from clipdense.models.utils import window_grid
        model = self.model
        height, width = inputs.shape[2:]
        if model.mode == 'whole':
            windows = [(0, height, 0, width)]
        else:
            windows = window_grid(height, width, model.sliding_window.crop_size, model.sliding_window.stride)
        preds = count = None
        for y1, y2, x1, x2 in windows:
            logits = self.window_cosine(inputs[:, :, y1:y2, x1:x2])
            padded = F.pad(logits, (x1, width - x2, y1, height - y2))
            preds = padded if preds is None else preds + padded
            ones = torch.zeros(1, 1, height, width, device=inputs.device)
            ones[:, :, y1:y2, x1:x2] = 1
            count = ones if count is None else count + ones
        cosine = F.interpolate(preds / count, size=tuple(data_samples[0].ori_shape), mode='bilinear',
                               align_corners=False)
        if model.refinement is not None:
            guide = F.interpolate(inputs, size=cosine.shape[-2:], mode='bilinear', align_corners=False)
            cosine = model.refinement(guide, cosine)
        from clipdense.models.segmentors.postprocess import label_map, names_to_class_probs
        probs = names_to_class_probs(cosine[0], model.name_to_class, len(model.vocabulary), model.logit_scale)
        return label_map(probs)


def measure(method: str, pipeline: str, images: int, device: str, amp: bool, queue) -> None:
    torch.manual_seed(0)
    model = build(method, device)
    batches = protocol_inputs(model, images + 1, device)
    run = model.predict if pipeline == 'clipdense' else ReferenceLoop(model)
    if device == 'cuda':
        torch.cuda.reset_peak_memory_stats()
    times = []
    with torch.no_grad(), torch.autocast(device_type=device, dtype=torch.float16, enabled=amp):
        for index, (inputs, samples) in enumerate(batches):
            if device == 'cuda':
                torch.cuda.synchronize()
            start = time.perf_counter()
            run(inputs, samples)
            if device == 'cuda':
                torch.cuda.synchronize()
            if index > 0:  # the first image warms up
                times.append(time.perf_counter() - start)
    if device == 'cuda':
        peak = torch.cuda.max_memory_allocated() / 2 ** 20
    else:
        peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    queue.put((1 / statistics.median(times), peak, inputs.shape[2:]))


def text_startup(names: int, device: str):
    """Seconds to encode ``names`` classes × 80 templates at 77 tokens vs at the cut context."""
    from clipdense.models.clip import TextClassifier, build_clip
    model = build_clip('ViT-B-16', None).to(device)
    classifier = TextClassifier(model, 'imagenet80', clip_name='ViT-B-16', cache_dir=None)
    prompts = [t.format(f'class {i}') for i in range(names) for t in classifier.templates]
    timings = {}
    with torch.no_grad():
        start = time.perf_counter()
        tokens = classifier.tokenizer(prompts).to(device)
        for chunk in tokens.split(classifier.batch_size):
            model.encode_text(chunk)
        timings['77 tokens'] = time.perf_counter() - start
        start = time.perf_counter()
        classifier.encode_prompts(prompts)
        timings['cut context'] = time.perf_counter() - start
    return timings


def main():
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument('--methods', nargs='+', default=list(CONFIGS), choices=list(CONFIGS))
    parser.add_argument('--images', type=int, default=3, help='timed images per pipeline (after one warm-up)')
    parser.add_argument('--device', default='cuda' if torch.cuda.is_available() else 'cpu')
    parser.add_argument('--amp', action='store_true', help='fp16 autocast (GPU)')
    parser.add_argument('--text-names', type=int, default=10, help='classes for the text start-up timing')
    args = parser.parse_args()
    sys.path.insert(0, ROOT)
    context = mp.get_context('spawn')
    print(f'device: {args.device}, threads: {torch.get_num_threads()}, amp: {args.amp}')
    print(f'{"method":<10} {"input":>10} {"reference img/s":>16} {"clipdense img/s":>16} {"speed-up":>9} '
          f'{"ref peak MiB":>13} {"ours peak MiB":>14}')
    for method in args.methods:
        results = {}
        for pipeline in ('reference loop', 'clipdense'):
            queue = context.Queue()
            process = context.Process(target=measure, args=(method, pipeline, args.images, args.device, args.amp,
                                                            queue))
            process.start()
            results[pipeline] = queue.get()
            process.join()
        (ref_speed, ref_peak, shape), (our_speed, our_peak, _) = results['reference loop'], results['clipdense']
        print(f'{method:<10} {f"{shape[0]}x{shape[1]}":>10} {ref_speed:>16.3f} {our_speed:>16.3f} '
              f'{our_speed / ref_speed:>8.2f}x {ref_peak:>13.0f} {our_peak:>14.0f}')
    timings = text_startup(args.text_names, args.device)
    print(f'text start-up, {args.text_names} classes x 80 templates: 77 tokens {timings["77 tokens"]:.2f} s, '
          f'cut context {timings["cut context"]:.2f} s '
          f'({timings["77 tokens"] / timings["cut context"]:.1f}x; cached vocabularies cost nothing on later starts)')


if __name__ == '__main__':
    main()
