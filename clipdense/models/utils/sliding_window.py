"""One sliding-window inference for every method.

Windows follow mmseg's grid (``slide_inference``): ``ceil((size - crop) / stride) + 1`` windows per axis, the
last one shifted back inside the image. Unlike mmseg (one window at a time), all windows of all images in a
batch go through the model together, in chunks of ``windows_per_batch``; per-window logits are resized to
their window, summed into the image and divided by the per-pixel window count.
"""
from dataclasses import dataclass
from typing import Callable, List, Optional, Sequence, Tuple

import torch

Window = Tuple[int, int, int, int]  # y1, y2, x1, x2


def window_grid(height: int, width: int, crop: Tuple[int, int], stride: Tuple[int, int]) -> List[Window]:
    """mmseg's window placement for an image of ``height`` × ``width``."""
    crop_h, crop_w = crop
    stride_h, stride_w = stride
    if min(crop_h, crop_w, stride_h, stride_w) <= 0:
        raise ValueError(f'crop {crop} and stride {stride} must be positive')
    rows = max(height - crop_h + stride_h - 1, 0) // stride_h + 1
    cols = max(width - crop_w + stride_w - 1, 0) // stride_w + 1
    windows = []
    for row in range(rows):
        for col in range(cols):
            y2 = min(row * stride_h + crop_h, height)
            x2 = min(col * stride_w + crop_w, width)
            windows.append((max(y2 - crop_h, 0), y2, max(x2 - crop_w, 0), x2))
    return windows


@dataclass
class SlidingWindow:
    """Sliding-window inference over a batch of images.

    Args:
        crop_size: window (h, w).
        stride: step (h, w).
        windows_per_batch: most windows per model call (the memory budget).
    """

    crop_size: Tuple[int, int]
    stride: Tuple[int, int]
    windows_per_batch: int = 64

    def __post_init__(self):
        self.crop_size = _pair(self.crop_size)
        self.stride = _pair(self.stride)

    def __call__(self, images: torch.Tensor, image_shapes: Sequence[Tuple[int, int]],
                 window_logits: Callable[[torch.Tensor], torch.Tensor],
                 to_window: Optional[Callable[[torch.Tensor, Tuple[int, int], torch.Tensor], None]] = None
                 ) -> List[torch.Tensor]:
        """Merged logits (C, h_i, w_i) for each image ``images[i, :, :h_i, :w_i]``.

        ``window_logits`` maps a batch of same-sized windows (N, 3, h, w) to logits (N, C, h', w'). Without
        ``to_window`` they must be at the windows' own size (h' = h, w' = w). With it, ``to_window(logits, (h, w),
        add_to)`` adds one window's logits (1, C, h', w'), resized to its size, into ``add_to`` (1, C, h, w), the
        window's region of the merged map: the window-sized maps of a whole batch (~180 MB at ADE-150, six
        windows) never exist at once (``resize_bilinear`` adds without a window-sized temporary).
        """
        jobs = []  # (image index, window)
        for index, (height, width) in enumerate(image_shapes):
            jobs += [(index, window) for window in window_grid(height, width, self.crop_size, self.stride)]
        # Windows of one size share model calls; images smaller than the crop give smaller windows.
        by_size = {}
        for job in jobs:
            y1, y2, x1, x2 = job[1]
            by_size.setdefault((y2 - y1, x2 - x1), []).append(job)

        merged = [None] * len(image_shapes)
        counts = [None] * len(image_shapes)
        for group in by_size.values():
            for start in range(0, len(group), self.windows_per_batch):
                chunk = group[start:start + self.windows_per_batch]
                crops = torch.stack([images[i, :, y1:y2, x1:x2] for i, (y1, y2, x1, x2) in chunk])
                logits = window_logits(crops)
                for (index, (y1, y2, x1, x2)), window in zip(chunk, logits):
                    if merged[index] is None:
                        height, width = image_shapes[index]
                        merged[index] = zeros_laid_out_as(window, height, width)
                        counts[index] = window.new_zeros(1, height, width)
                    region = merged[index][:, y1:y2, x1:x2]
                    if to_window is None:
                        region += window
                    else:
                        to_window(window[None], (y2 - y1, x2 - x1), region[None])
                    counts[index][:, y1:y2, x1:x2] += 1
        return [divided_into_contiguous(total, count) for total, count in zip(merged, counts)]


def zeros_laid_out_as(window: torch.Tensor, height: int, width: int) -> torch.Tensor:
    """Zeros (C, height, width) in ``window``'s layout. Logits from a matmul with the text are channels-last
    (classes innermost): adding such windows into a class-major canvas walks memory across the grain, ~10x slower
    than in its own layout at ADE-847's 847 classes."""
    if window.shape[0] > 1 and window.stride(0) == 1:
        return window.new_zeros(height, width, window.shape[0]).permute(2, 0, 1)
    return window.new_zeros(window.shape[0], height, width)


def divided_into_contiguous(total: torch.Tensor, count: torch.Tensor, block_bytes: int = 2 ** 21) -> torch.Tensor:
    """``total / count`` as contiguous (C, H, W) maps, the layout callers have always received (the values do not
    depend on the canvas' layout: each pixel's windows were added in the same order). A contiguous ``total`` is
    divided in place. A channels-last canvas is divided and transposed a few rows at a time on a CPU, each block
    staying in cache: ~4x faster than one ``contiguous()`` over ADE-847's maps."""
    if total.is_contiguous():
        return total.div_(count)  # the canvas is the caller's to spend: no second full-size map
    if total.device.type != 'cpu':
        return (total / count).contiguous()
    out = total.new_empty(total.shape)
    channels, height, width = total.shape
    rows = max(1, block_bytes // (channels * width * total.element_size()))
    for top in range(0, height, rows):
        out[:, top:top + rows] = total[:, top:top + rows] / count[:, top:top + rows]
    return out


def _pair(value) -> Tuple[int, int]:
    if isinstance(value, int):
        return (value, value)
    value = tuple(value)
    if len(value) != 2:
        raise ValueError(f'expected an int or an (h, w) pair, got {value!r}')
    return value
