"""Bilinear resizing of score maps (``align_corners=False``), backed by ``clipdense._ext`` on CPUs.

The segmentors resize every window's logits and every image's score maps: at ADE-150 that is 150 maps of
hundreds of thousands of pixels per image. PyTorch's CPU kernel gathers the four inputs of every output; the
compiled kernel interpolates each source row along the width once and blends rows with vector loops, with
PyTorch's roundings in PyTorch's order, so the bits are ``F.interpolate``'s. It can also write only a window of
the result, or add it into an existing map (the sliding window's merge) without a temporary.

PyTorch rounds the same way only in its generic kernel; shapes it sends to its channels-last kernel, other
devices and dtypes, inputs that need a gradient, and a PyTorch whose bits differ (checked once per process) go to
``F.interpolate``.
"""
import functools
from typing import List, Optional, Tuple

import torch
import torch.nn.functional as F
from mmengine.logging import print_log
from torch import Tensor

from .ext_loader import ext_import_error, load_ext

Window = Tuple[int, int, int, int]  # top, left, height, width
# Where PyTorch resizes (``add_to`` without the compiled kernel), the most bytes of resized maps at a time: glibc
# reuses freed blocks below 32 MiB instead of returning them to the system, so later pieces cost no page faults.
PIECE_BYTES = 2 ** 23


def resize_bilinear(source: Tensor, size: Tuple[int, int], window: Optional[Window] = None,
                    add_to: Optional[Tensor] = None) -> Tensor:
    """``F.interpolate(source, size, mode='bilinear', align_corners=False)`` of ``source`` (N, C, h, w), or only
    its ``window`` (top, left, height, width). With ``add_to`` (N, C, height, width) the result is added into it
    in place and ``add_to`` is returned: the compiled kernel adds as it goes, PyTorch's resize is added a few
    channels at a time."""
    size = (int(size[0]), int(size[1]))
    top, left, height, width = window if window is not None else (0, 0) + size
    if not (0 <= top and 0 <= left and top + height <= size[0] and left + width <= size[1]):
        raise ValueError(f'window {window} does not fit in the resized size {size}')
    expected = (*source.shape[:2], height, width)
    if add_to is not None and tuple(add_to.shape) != expected:
        raise ValueError(f'add_to has shape {tuple(add_to.shape)}, the resized window is {expected}')
    if _compiled_applies(source, size, add_to):
        planes = source.shape[0] * source.shape[1]
        target = add_to if add_to is not None else source.new_empty(expected)
        load_ext().bilinear_resize(source.reshape(planes, *source.shape[2:]), target.view(planes, height, width),
                                   list(size), [top, left], add_to is not None)
        return target
    if add_to is None:
        return _interpolate(source, size)[:, :, top:top + height, left:left + width]
    pieces = [(0, source.shape[1])]
    if torch_uses_generic_kernel(source, size):  # its bits do not depend on the channels (but for three)
        step = max(1, PIECE_BYTES // (size[0] * size[1] * source.element_size() * source.shape[0]))
        pieces = channel_pieces(source.shape[1], step)
    for first, last in pieces:
        add_to[:, first:last] += _interpolate(source[:, first:last], size)[:, :, top:top + height, left:left + width]
    return add_to


def _interpolate(source: Tensor, size: Tuple[int, int]) -> Tensor:
    if tuple(source.shape[2:]) == size:
        return source
    return F.interpolate(source, size=size, mode='bilinear', align_corners=False)


def channel_pieces(channels: int, step: int) -> List[Tuple[int, int]]:
    """[first, last) ranges of at most ``step`` channels, none of exactly three unless ``channels`` is three: on one
    thread PyTorch resizes three-channel maps with its channels-last kernel, whose bits differ from the whole map's."""
    if channels <= 3:
        return [(0, channels)]
    step = 2 if step == 3 else step
    pieces = [(first, min(first + step, channels)) for first in range(0, channels, step)]
    first, last = pieces[-1]
    if last - first == 3:
        pieces[-1:] = [(first, first + 2), (first + 2, last)]
    return pieces


def torch_uses_generic_kernel(source: Tensor, size: Tuple[int, int]) -> bool:
    """Whether PyTorch's CPU ``upsample_bilinear2d`` resizes ``source`` with its generic kernel, whose roundings the
    compiled kernel repeats. Its channels-last kernel takes channels-last inputs of more than three channels,
    outputs with height + width <= 128, and three-channel inputs on one thread (UpSampleKernel.cpp)."""
    channels = source.shape[1]
    return not ((source.is_contiguous(memory_format=torch.channels_last) and channels > 3)
                or size[0] + size[1] <= 128 or (torch.get_num_threads() == 1 and channels == 3))


def _compiled_applies(source: Tensor, size: Tuple[int, int], add_to: Optional[Tensor]) -> bool:
    if source.device.type != 'cpu' or source.dtype != torch.float32 or source.dim() != 4 or source.numel() == 0:
        return False
    if tuple(source.shape[2:]) == size or not torch_uses_generic_kernel(source, size):
        return False
    if torch.is_grad_enabled() and source.requires_grad:  # the kernel has no backward
        return False
    if add_to is not None:
        if add_to.device.type != 'cpu' or add_to.dtype != torch.float32 or add_to.stride(-1) != 1:
            return False
        try:
            add_to.view(-1, *add_to.shape[2:])
        except RuntimeError:  # the planes are not one strided axis: no view to write through
            return False
    if load_ext() is None:
        _warn_missing_extension()
        return False
    return compiled_matches_torch()


@functools.lru_cache(maxsize=None)
def _warn_missing_extension() -> None:
    print_log(f'score maps are resized by F.interpolate (same results, slower): clipdense._ext does not import '
              f'({ext_import_error()}); build it with `pip install -e .`', logger='current', level=30)


@functools.lru_cache(maxsize=None)
def compiled_matches_torch() -> bool:
    """Whether the compiled kernel gives this PyTorch's bits, on an enlargement and a reduction (once)."""
    ext = load_ext()
    generator = torch.Generator().manual_seed(0)
    for shape, size in (((1, 5, 9, 11), (70, 90)), ((1, 4, 40, 50), (31, 120))):
        source = torch.randn(shape, generator=generator)
        target = source.new_empty(shape[1], *size)
        ext.bilinear_resize(source[0], target, list(size), [0, 0], False)
        if not torch.equal(target, F.interpolate(source, size=size, mode='bilinear', align_corners=False)[0]):
            print_log('clipdense._ext.bilinear_resize does not give the bits of this PyTorch\'s bilinear '
                      'interpolation: score maps are resized with F.interpolate instead (slower)',
                      logger='current', level=30)
            return False
    return True
