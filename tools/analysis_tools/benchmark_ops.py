"""Benchmark clipdense's compiled ops against the implementations they replace.

* RoIAlign forward and forward+backward on FPN-like levels (an 800 x 1216 batch of 2, strides
  4-32, boxes assigned to levels as mmdet's SingleRoIExtractor does) vs torchvision's and
  mmcv's RoIAlign;
* dense attention at ViT-B/16 @ 448 px shapes (N = 785 tokens, d = 64, 12 heads, a batch of
  sliding windows) vs the bmm/softmax chain (``dense_attention_reference``).

Times are medians over ``--repeats`` runs after ``--warmup`` runs; on CUDA the peak memory is
``torch.cuda.max_memory_allocated`` above what was allocated before the call. On the CPU
there is no reliable per-call peak for torch allocations, so only times are reported. Ratios
compare each implementation with the baseline of the same case, measured in the same run.

Example::

    python tools/analysis_tools/benchmark_ops.py --device cpu --repeats 3 --channels 64
"""
import argparse
import statistics
import time
from functools import partial
from typing import Callable, Dict, List, Optional, Tuple

import torch

from clipdense.ops import dense_attention, dense_attention_reference, load_ext, roi_align

FPN_STRIDES = (4, 8, 16, 32)
IMAGE_HW = (800, 1216)


def parse_args():
    parser = argparse.ArgumentParser(description=__doc__.split('\n\n')[0])
    parser.add_argument('--device', default='cuda' if torch.cuda.is_available() else 'cpu')
    parser.add_argument('--repeats', type=int, default=10)
    parser.add_argument('--warmup', type=int, default=2)
    parser.add_argument('--boxes', type=int, nargs='+', default=[512, 1000])
    parser.add_argument('--channels', type=int, default=256, help='FPN channels')
    parser.add_argument(
        '--windows', type=int, default=4, help='sliding windows per image = attention batch size')
    parser.add_argument('--tokens', type=int, default=785, help='1 + (448 / 16) ** 2')
    parser.add_argument('--only', choices=['roi_align', 'dense_attention'])
    return parser.parse_args()


def synchronize(device: torch.device):
    if device.type == 'cuda':
        torch.cuda.synchronize(device)


def measure(fns: Dict[str, Callable], device: torch.device, repeats: int,
            warmup: int) -> Dict[str, Tuple[float, Optional[float]]]:
    """Median seconds of each fn() and, on CUDA, its peak extra memory in MiB.

    The implementations take turns within every repeat, so a load that drifts during the run
    (other jobs on the machine) affects them alike.
    """
    for fn in fns.values():
        for _ in range(warmup):
            fn()
    synchronize(device)
    times = {name: [] for name in fns}
    for _ in range(repeats):
        for name, fn in fns.items():
            start = time.perf_counter()
            fn()
            synchronize(device)
            times[name].append(time.perf_counter() - start)
    results = {}
    for name, fn in fns.items():
        peak = None
        if device.type == 'cuda':
            torch.cuda.empty_cache()
            before = torch.cuda.memory_allocated(device)
            torch.cuda.reset_peak_memory_stats(device)
            fn()
            synchronize(device)
            peak = (torch.cuda.max_memory_allocated(device) - before) / 2**20
        results[name] = (statistics.median(times[name]), peak)
    return results


def random_boxes(count: int, batch: int, generator: torch.Generator) -> torch.Tensor:
    """Boxes with log-uniform sides of 16-600 px inside the image: (count, 5)."""
    height, width = IMAGE_HW
    sides = torch.exp(torch.empty(count, 2).uniform_(2.77, 6.4, generator=generator))
    x1 = torch.rand(count, generator=generator) * (width - sides[:, 0]).clamp(min=1)
    y1 = torch.rand(count, generator=generator) * (height - sides[:, 1]).clamp(min=1)
    index = torch.randint(batch, (count, ), generator=generator).float()
    return torch.stack([index, x1, y1, x1 + sides[:, 0], y1 + sides[:, 1]], dim=1)


def level_of(rois: torch.Tensor) -> torch.Tensor:
    """mmdet's SingleRoIExtractor.map_roi_levels (finest_scale 56)."""
    scale = ((rois[:, 3] - rois[:, 1]) * (rois[:, 4] - rois[:, 2])).sqrt()
    return torch.floor(torch.log2(scale / 56 + 1e-6)).clamp(0, len(FPN_STRIDES) - 1).long()


def roi_align_implementations():
    implementations = {}
    if load_ext() is not None:
        implementations['clipdense'] = lambda x, r, s, mode: roi_align(x, r, 7, s, 0, mode, True)
    import torchvision
    implementations['torchvision'] = (
        lambda x, r, s, mode: torchvision.ops.roi_align(x, r, 7, s, 0, True))
    try:
        from mmcv.ops import roi_align as mmcv_roi_align
        implementations['mmcv'] = lambda x, r, s, mode: mmcv_roi_align(x, r, 7, s, 0, mode, True)
    except ImportError:
        print('mmcv.ops is not importable: mmcv left out of the RoIAlign table')
    return implementations


def benchmark_roi_align(args, device: torch.device) -> List[dict]:
    generator = torch.Generator().manual_seed(0)
    batch = 2
    feats = [
        torch.randn(batch, args.channels, IMAGE_HW[0] // s, IMAGE_HW[1] // s,
                    generator=generator).to(device) for s in FPN_STRIDES
    ]
    rows = []
    implementations = roi_align_implementations()
    for count in args.boxes:
        rois = random_boxes(count, batch, generator).to(device)
        levels = level_of(rois)
        per_level = [(feats[i], rois[levels == i], 1.0 / s) for i, s in enumerate(FPN_STRIDES)]
        for mode in ('avg', 'max'):
            case = f'RoIAlign {count} boxes, C={args.channels}, 7x7, {mode}'
            # torchvision has no max mode.
            names = [name for name in implementations if mode == 'avg' or name != 'torchvision']

            def forward(name, grad=False):
                return [
                    implementations[name](f.requires_grad_(grad), r, s, mode)
                    for f, r, s in per_level
                ]

            def forward_backward(name):
                outputs = forward(name, grad=True)
                torch.autograd.backward(outputs, [torch.ones_like(o) for o in outputs])
                for f in feats:
                    f.grad = None
                    f.requires_grad_(False)

            with torch.no_grad():
                forward_results = measure({name: partial(forward, name)
                                           for name in names}, device, args.repeats, args.warmup)
            both_results = measure({name: partial(forward_backward, name)
                                    for name in names}, device, args.repeats, args.warmup)
            for name in names:
                rows.append(
                    dict(
                        case=case,
                        impl=name,
                        fwd=forward_results[name][0],
                        fwd_mem=forward_results[name][1],
                        both=both_results[name][0],
                        both_mem=both_results[name][1],
                        baseline='torchvision' if mode == 'avg' else 'mmcv'))
    return rows


def benchmark_dense_attention(args, device: torch.device) -> List[dict]:
    generator = torch.Generator().manual_seed(0)
    shape = (args.windows, 12, args.tokens, 64)
    q, k, v = (torch.randn(shape, generator=generator).to(device) for _ in range(3))
    side = int(round((args.tokens - 1)**0.5))
    bias = torch.randn(args.tokens, args.tokens, generator=generator).to(device)
    cases = {
        'vanilla (qk)': (('qk', ), None),
        'SCLIP (qq+kk)': (('qq', 'kk'), None),
        'NACLIP (kk+bias)': (('kk', ), bias),
    }
    implementations = {'reference (bmm/softmax)': dense_attention_reference}
    if load_ext() is not None:
        implementations['clipdense'] = dense_attention
    rows = []
    for label, (pairs, case_bias) in cases.items():
        case = (f'dense attention {label}, B={args.windows}, 12 heads, N={args.tokens} '
                f'({side}x{side}+1), d=64')
        with torch.no_grad():
            results = measure(
                {
                    name: partial(impl, q, k, v, pairs, bias=case_bias)
                    for name, impl in implementations.items()
                }, device, args.repeats, args.warmup)
        for name, (fwd, fwd_mem) in results.items():
            rows.append(
                dict(
                    case=case,
                    impl=name,
                    fwd=fwd,
                    fwd_mem=fwd_mem,
                    both=None,
                    both_mem=None,
                    baseline='reference (bmm/softmax)'))
    return rows


def format_ms(seconds: Optional[float]) -> str:
    return '-' if seconds is None else f'{seconds * 1e3:.2f}'


def format_mib(mib: Optional[float]) -> str:
    return '-' if mib is None else f'{mib:.1f}'


def ratio(value: Optional[float], baseline: Optional[float]) -> str:
    """Baseline / value: above 1 means faster (or smaller) than the baseline."""
    if value is None or baseline is None or value == 0:
        return '-'
    return f'{baseline / value:.2f}x'


def print_table(rows: List[dict], device: torch.device):
    header = ('implementation', 'fwd ms', 'speed', 'fwd MiB', 'mem', 'fwd+bwd ms', 'speed',
              'fwd+bwd MiB')
    widths = (26, 10, 7, 9, 7, 11, 7, 11)
    print(
        f'\nDevice: {device} ({torch.cuda.get_device_name(device) if device.type == "cuda" else f"{torch.get_num_threads()} threads"}), '
        f'torch {torch.__version__}; speed/mem = baseline / this (above 1: better)')
    for case in dict.fromkeys(row['case'] for row in rows):
        case_rows = [row for row in rows if row['case'] == case]
        base = next((row for row in case_rows if row['impl'] == row['baseline']), None)
        print(f'\n{case}  [baseline: {case_rows[0]["baseline"]}]')
        print('  '.join(h.rjust(w) for h, w in zip(header, widths)))
        for row in case_rows:
            cells = (row['impl'], format_ms(row['fwd']), ratio(row['fwd'], base and base['fwd']),
                     format_mib(row['fwd_mem']), ratio(row['fwd_mem'], base and base['fwd_mem']),
                     format_ms(row['both']), ratio(row['both'], base
                                                   and base['both']), format_mib(row['both_mem']))
            print('  '.join(c.rjust(w) for c, w in zip(cells, widths)))


def main():
    args = parse_args()
    device = torch.device(args.device)
    if load_ext() is None:
        print('clipdense._ext is not built: only the baselines are measured')
    rows = []
    if args.only in (None, 'roi_align'):
        rows += benchmark_roi_align(args, device)
    if args.only in (None, 'dense_attention'):
        rows += benchmark_dense_attention(args, device)
    print_table(rows, device)


if __name__ == '__main__':
    main()
