"""Speed, memory and agreement of the training-free methods: clipdense in each precision (and compiled) against a
faithful one-window-at-a-time loop of the references.

    python tools/analysis_tools/benchmark_trainfree.py [--methods sclip clearclip naclip maskclip]
        [--images 3] [--device cpu|cuda] [--precisions fp32 bf16 fp16] [--compile] [--no-synthetic]
        [--classes 150|847] [--no-reference]

Each method runs at its ADE20K protocol (ViT-B/16 architecture, random weights: speed does not depend on the
weights) on random images of ADE's typical size (512×683 before the protocol's resize), with ADE-150's
vocabulary or (``--classes 847``) ADE-847's (``vocabularies/common/ade847.txt``). Each pipeline is timed in its
own process, so that peak memory is its own:

* ``reference loop``: what the reference repositories do, in fp32: one window per forward, last-block attention as
  a bmm/softmax chain, ClearCLIP's discarded full last block computed anyway, each window's logits padded to the
  full image and accumulated, PAMR (NACLIP) with its neighbour maps stacked, and their own last step (a scaled
  copy, a fresh softmax, argmax and the best probability);
* ``clipdense <precision>``: the segmentor as shipped (all windows of an image in one backbone batch, the
  dense-attention op chosen at build time, no dead compute) at ``model.precision`` = each of ``--precisions``
  (default fp32 and, where the device has native instructions, bf16 on CPUs, fp16 and bf16 on GPUs);
* ``clipdense fp32 compiled`` (``--compile``): ``model.compile=True``; its compile time is printed apart.

``--no-reference`` skips the reference loop (at 847 classes NACLIP's stacked PAMR needs ~19 GiB for one image).
For clipdense's modes, ``beyond tower`` is the share of the image time spent outside the CLIP vision tower's
forward passes (window merging, resizing the score maps, PAMR, probabilities, labels).

Beside images/s and peak memory, each mode's labels are compared with clipdense fp32's (per-image pixel
agreement, mean over the images), and, unless ``--no-synthetic``, each mode's mIoU on the synthetic world's 40
val scenes with the embedded clipdense-tiny CLIP (real weights, where agreement means something; ADE-sized random
weights give near-tied scores). Text start-up is reported separately: encoding a vocabulary with the 80 templates
at the full 77-token context (the references, every start) against clipdense's context cut (and its disk cache,
which makes later starts free). Peak memory: CUDA ``max_memory_allocated``; on the CPU the process's peak RSS.
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


def build(method: str, device: str, precision: str = 'fp32', compile_towers: bool = False, config=None,
          classes: int = 150):
    from clipdense.apis import init_model
    options = {'model.clip.pretrained': None, 'model.templates': 'photo', 'model.text_cache_dir': None}
    if classes == 847:
        options['model.vocabulary'] = os.path.join(ROOT, 'clipdense/datasets/vocabularies/common/ade847.txt')
    if config is not None:  # the synthetic world's config: the embedded CLIP's real weights
        options = {'model.text_cache_dir': None}
    model = init_model(config or os.path.join(ROOT, CONFIGS[method]), device=device, cfg_options=options,
                       precision=precision)
    if compile_towers:
        model.compile_towers()
    return model


def protocol_inputs(model, count: int):
    """Random images of ADE's typical size through the config's own test pipeline, collated (the model's data
    preprocessor runs inside the timed region, for both pipelines)."""
    from mmengine.dataset import Compose, pseudo_collate
    import numpy as np

    steps = [dict(s) for s in model.cfg.test_pipeline if 'LoadAnnotations' not in s['type']]
    steps[0] = dict(type='LoadImageFromNDArray')
    pipeline = Compose(steps)
    rng = np.random.RandomState(0)
    return [pseudo_collate([pipeline(dict(img=rng.randint(0, 255, (512, 683, 3), dtype=np.uint8)))])
            for _ in range(count)]


class ReferenceLoop:
    """The references' inference loop on the same model weights."""

    def __init__(self, model, method: str):
        from clipdense.models.clip import ClearCLIPLastBlock
        from clipdense.ops.reference import dense_attention_reference
        self.model = model
        self.mmseg_postprocess = method == 'maskclip'  # MaskCLIP runs mmseg 0.x's; the others SCLIP's
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
            cosine = reference_pamr(model.refinement, guide, cosine)
        return self.labels(cosine)

    def labels(self, cosine):
        """The references' last step on (1, names, H, W) logits. SCLIP, ClearCLIP and NACLIP: a scaled copy, a
        fresh softmax, synonyms by a one-hot product and a max, argmax, and the best probability (for prob_thd,
        computed even at 0); NACLIP renormalises. MaskCLIP (mmseg 0.x): softmax at temperature 1, argmax."""
        model = self.model
        if self.mmseg_postprocess:
            return cosine.softmax(dim=1)[0].argmax(0)
        probs = (cosine[0] * model.logit_scale).softmax(0)
        num_classes = len(model.vocabulary)
        if probs.shape[0] != num_classes:
            one_hot = F.one_hot(model.name_to_class).T.reshape(num_classes, -1, 1, 1).to(probs.dtype)
            probs = (probs[None] * one_hot).max(1)[0]
        labels = probs.argmax(0, keepdim=True)
        labels[probs.max(0, keepdim=True)[0] < model.prob_thd] = 0
        if model.renormalize:
            probs /= probs.sum(0, keepdim=True)
        return labels[0]


def reference_pamr(pamr, guide, scores):
    """PAMR as SCLIP's and NACLIP's code runs it: every step stacks the 16 neighbour maps of all classes (their
    unfold) and sums them weighted."""
    from clipdense.models.refinement.pamr import _neighbours
    weights = pamr.affinity(guide)
    for _ in range(pamr.steps):
        scores = (_neighbours(scores, pamr.dilations, with_centre=False) * weights).sum(dim=2)
    return scores


class TowerClock:
    """Seconds spent in a module's forward passes (synchronised on CUDA)."""

    def __init__(self, module, device: str):
        self.seconds, self.device = 0.0, device
        module.register_forward_pre_hook(self.start)
        module.register_forward_hook(self.stop)

    def start(self, module, args):
        if self.device == 'cuda':
            torch.cuda.synchronize()
        self.started = time.perf_counter()

    def stop(self, module, args, output):
        if self.device == 'cuda':
            torch.cuda.synchronize()
        self.seconds += time.perf_counter() - self.started


def measure(method: str, mode: str, images: int, device: str, classes: int, queue) -> None:
    """Images/s, peak memory, input size, labels and the share of time beyond the vision tower of one pipeline
    (``mode``: 'reference loop', 'clipdense <precision>' or 'clipdense fp32 compiled'), in a process of its own."""
    torch.manual_seed(0)
    precision = 'fp32' if mode == 'reference loop' else mode.split()[1]
    model = build(method, device, precision, compile_towers=mode.endswith('compiled'), classes=classes)
    clock = TowerClock(model.vision_tower(), device) if mode != 'reference loop' else None
    batches = protocol_inputs(model, images + 1)
    if mode == 'reference loop':
        loop = ReferenceLoop(model, method)

        def run(batch):
            data = model.data_preprocessor(batch, False)
            return loop(data['inputs'], data['data_samples'])
    else:
        def run(batch):  # the model's own step: its precision, fp32 outputs
            return model.test_step(batch)[0].pred_sem_seg.data[0]
    if device == 'cuda':
        torch.cuda.reset_peak_memory_stats()
    times, labels = [], []
    with torch.no_grad():
        for index, batch in enumerate(batches):
            if device == 'cuda':
                torch.cuda.synchronize()
            start = time.perf_counter()
            labels.append(run(batch).cpu().numpy())  # arrays: tensors would be shared, not sent
            if device == 'cuda':
                torch.cuda.synchronize()
            if index > 0:  # the first image warms up (and compiles)
                times.append(time.perf_counter() - start)
            else:
                first = time.perf_counter() - start
                if clock is not None:
                    clock.seconds = 0.0  # the timed images' tower time only
    if device == 'cuda':
        peak = torch.cuda.max_memory_allocated() / 2 ** 20
    else:
        peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    shape = model.data_preprocessor(batches[0], False)['inputs'].shape[2:]
    beyond_tower = None if clock is None else 1 - clock.seconds / sum(times)
    queue.put(dict(speed=1 / statistics.median(times), peak=peak, shape=tuple(shape), labels=labels,
                   warm_up=first - statistics.median(times), beyond_tower=beyond_tower))


def synthetic_miou(method: str, mode: str, device: str) -> dict:
    """mIoU and per-image labels of ``method``'s synthetic-world config in ``mode`` on the 40 val scenes of seed 0
    (written once into a temporary folder), with the embedded CLIP: the config's own test dataset, pipeline and
    evaluator, one image per step."""
    import tempfile
    from mmengine.dataset import pseudo_collate
    from mmengine.evaluator import Evaluator
    from mmengine.logging import MMLogger
    from clipdense.datasets.synthetic import write_synthetic_world
    from clipdense.registry import DATASETS
    global _world
    if _world is None:
        _world = tempfile.mkdtemp(prefix='synthetic_world_')
        write_synthetic_world(_world, num_train=0, num_val=40, seed=0)
    precision = mode.split()[1]
    config = os.path.join(ROOT, f'configs/{method}/{method}_clipdense-tiny_synthetic-world.py')
    model = build(method, device, precision, mode.endswith('compiled'), config=config)
    dataset = DATASETS.build(dict(model.cfg.test_dataloader.dataset, data_root=_world))
    evaluator = Evaluator(model.cfg.test_evaluator)
    evaluator.dataset_meta = dataset.metainfo
    labels = []
    with torch.no_grad():
        for index in range(len(dataset)):
            batch = pseudo_collate([dataset[index]])
            outputs = model.test_step(batch)
            evaluator.process(outputs, batch)
            labels.append(outputs[0].pred_sem_seg.data[0].cpu().numpy())
    logger = MMLogger.get_current_instance()
    level = logger.level
    logger.setLevel('WARNING')  # the metric's per-class table
    miou = evaluator.evaluate(len(dataset))['mIoU']
    logger.setLevel(level)
    return dict(miou=miou, labels=labels)


_world = None


def agreement(labels, reference) -> float:
    """Mean over images of the share of pixels labelled as in ``reference``."""
    return statistics.mean(float((a == b).mean()) for a, b in zip(labels, reference))


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


def default_precisions(device: str) -> list:
    from clipdense.utils.precision import native_support
    lowered = ['bf16'] if device == 'cpu' else ['fp16', 'bf16']
    return ['fp32'] + [p for p in lowered if native_support(p, torch.device(device)) is None]


def main():
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument('--methods', nargs='+', default=list(CONFIGS), choices=list(CONFIGS))
    parser.add_argument('--images', type=int, default=3, help='timed images per pipeline (after one warm-up)')
    parser.add_argument('--device', default='cuda' if torch.cuda.is_available() else 'cpu')
    parser.add_argument('--precisions', nargs='+', choices=['fp32', 'bf16', 'fp16'],
                        help='clipdense modes to time (default: fp32 and the lower formats the device has)')
    parser.add_argument('--compile', action='store_true', help='also time clipdense fp32 with model.compile')
    parser.add_argument('--no-synthetic', action='store_true', help='skip the synthetic-world mIoU of each mode')
    parser.add_argument('--text-names', type=int, default=10, help='classes for the text start-up timing')
    parser.add_argument('--classes', type=int, choices=[150, 847], default=150,
                        help="the ADE vocabulary of the timed runs (ADE-150's or ADE-847's class names)")
    parser.add_argument('--no-reference', action='store_true', help='skip the reference loop')
    args = parser.parse_args()
    sys.path.insert(0, ROOT)
    precisions = args.precisions or default_precisions(args.device)
    if 'fp32' not in precisions:
        precisions = ['fp32'] + precisions  # the agreement's reference
    modes = [f'clipdense {p}' for p in precisions] + (['clipdense fp32 compiled'] if args.compile else [])
    context = mp.get_context('spawn')
    print(f'device: {args.device}, threads: {torch.get_num_threads()}, classes: {args.classes}, '
          f'modes: {", ".join(modes)}')
    print(f'{"method":<10} {"mode":<24} {"input":>9} {"img/s":>7} {"vs ref":>7} {"beyond tower":>13} '
          f'{"peak MiB":>9} {"agree fp32":>11} {"synth mIoU":>11}')
    for method in args.methods:
        results = {}
        for mode in ([] if args.no_reference else ['reference loop']) + modes:
            queue = context.Queue()
            process = context.Process(target=measure,
                                      args=(method, mode, args.images, args.device, args.classes, queue))
            process.start()
            results[mode] = queue.get()
            process.join()
            if not args.no_synthetic and mode != 'reference loop':
                results[mode]['synthetic'] = synthetic_miou(method, mode, args.device)
        reference, exact = results.get('reference loop'), results['clipdense fp32']
        for mode, result in results.items():
            shape = f'{result["shape"][0]}x{result["shape"][1]}'
            agree = f'{100 * agreement(result["labels"], exact["labels"]):.2f}%'
            synthetic = result.get('synthetic')
            if synthetic is not None:
                synth_agree = agreement(synthetic['labels'], exact['synthetic']['labels'])
                synth = f'{synthetic["miou"]:.2f} ({100 * synth_agree:.1f}%)'
            else:
                synth = '-'
            note = f'  (compile + first image: {result["warm_up"]:.1f} s)' if mode.endswith('compiled') else ''
            ratio = f'{result["speed"] / reference["speed"]:.2f}x' if reference is not None else '-'
            beyond = result['beyond_tower']
            beyond = '-' if beyond is None else f'{100 * beyond:.1f}%'
            print(f'{method:<10} {mode:<24} {shape:>9} {result["speed"]:>7.3f} {ratio:>7} {beyond:>13} '
                  f'{result["peak"]:>9.0f} {agree:>11} {synth:>11}{note}')
    timings = text_startup(args.text_names, args.device)
    print(f'text start-up, {args.text_names} classes x 80 templates: 77 tokens {timings["77 tokens"]:.2f} s, '
          f'cut context {timings["cut context"]:.2f} s '
          f'({timings["77 tokens"] / timings["cut context"]:.1f}x; cached vocabularies cost nothing on later starts)')


if __name__ == '__main__':
    main()
