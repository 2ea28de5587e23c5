"""Inference precision: one name (``model.precision``, ``--precision``, ``init_model(precision=...)``) for the
numeric format CLIP towers and heads run in.

``'fp32'`` (the default) is exact: every parity test runs on it. ``'bf16'`` and ``'fp16'`` run under
``torch.autocast``: matrix products (linear, convolution, attention) in the lower format, reductions such as
softmax and normalisation as autocast keeps them, and the models hand back fp32 scores.
"""
import argparse
import contextlib
import platform
from typing import Callable, ContextManager, Optional

import torch
from mmengine.logging import print_log

from .errors import UserError

PRECISIONS = {'fp32': None, 'bf16': torch.bfloat16, 'fp16': torch.float16}


class PrecisionError(UserError, ValueError):
    """An unknown precision name."""


def check_precision(precision: str) -> str:
    """``precision`` if it is one of ``PRECISIONS``; a ``PrecisionError`` naming them otherwise."""
    if precision not in PRECISIONS:
        raise PrecisionError(f'precision {precision!r} is unknown: use one of {", ".join(PRECISIONS)} '
                             "('fp32' is exact; bf16/fp16 are faster where the hardware has them)")
    return precision


def add_inference_args(parser: argparse.ArgumentParser) -> None:
    """``--precision`` and ``--compile``, as ``tools/test.py`` and the demos take them."""
    parser.add_argument('--precision', choices=list(PRECISIONS),
                        help='inference format (sets model.precision; default: the config\'s, fp32 = exact)')
    parser.add_argument('--compile', action='store_true', help='torch.compile the vision tower (off by default)')


def native_support(precision: str, device: torch.device) -> Optional[str]:
    """``None`` when ``device`` computes ``precision`` with its own instructions, else why it does not."""
    if precision == 'fp32':
        return None
    if device.type == 'cuda':
        if precision == 'bf16' and not torch.cuda.is_bf16_supported():
            return f'{torch.cuda.get_device_name(device)} has no bf16 arithmetic'
        return None
    if device.type == 'cpu':
        supported = cpu_has_bf16() if precision == 'bf16' else torch.ops.mkldnn._is_mkldnn_fp16_supported()
        return None if supported else f'this CPU has no native {precision} instructions (it is emulated, slowly)'
    return None


def cpu_has_bf16() -> bool:
    """Whether the CPU computes bf16 products itself. On x86 that takes AVX512-BF16 or AMX: oneDNN's own check
    also accepts plain AVX-512, where bf16 is converted to fp32 and back and runs slower than fp32 (measured)."""
    if platform.machine().lower() in ('x86_64', 'amd64') and hasattr(torch.cpu, '_is_avx512_bf16_supported'):
        return torch.cpu._is_avx512_bf16_supported() or torch.cpu._is_amx_tile_supported()
    return torch.ops.mkldnn._is_mkldnn_bf16_supported()


_warned = set()


def autocast(precision: str, device: torch.device) -> ContextManager:
    """The autocast context of ``precision`` on ``device`` (nothing for fp32).

    Where the device lacks native support the run goes on (the numbers are the same, only slower) and the reason is
    logged once per (precision, device type), with the advice to use fp32."""
    dtype = PRECISIONS[check_precision(precision)]
    if dtype is None:
        return contextlib.nullcontext()
    reason = native_support(precision, device)
    if reason is not None and (precision, device.type) not in _warned:
        _warned.add((precision, device.type))
        print_log(f'precision {precision}: {reason}; it runs, but likely slower than fp32 (precision=fp32)',
                  logger='current', level=30)
    return torch.autocast(device.type, dtype=dtype)


def full_precision(device: torch.device) -> ContextManager:
    """A region that stays fp32 inside an ``autocast`` one (refinements, final probabilities)."""
    return torch.autocast(device.type, enabled=False)


def run_lowered(precision: str, device: torch.device, function: Callable, *args):
    """``function(*args)`` under the autocast of ``precision``, its tensor (or tuple of tensors) handed back in
    fp32: one lowered part of an otherwise fp32 inference step (a detector's feature extractor, a region tower)."""
    with autocast(precision, device):
        result = function(*args)
    if isinstance(result, torch.Tensor):
        return result.float()
    return type(result)(tensor.float() for tensor in result)
