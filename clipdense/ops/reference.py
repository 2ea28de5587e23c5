"""Pure-PyTorch references of clipdense's compiled ops, written from the math.

They define what the compiled kernels compute, are differentiable through autograd, and serve
as the fallback when ``clipdense._ext`` is not built. They favour clarity over speed.
"""
import math
from typing import Optional, Sequence, Tuple, Union

import torch
from torch import Tensor
from torch.nn.modules.utils import _pair

POOL_MODES = ('avg', 'max')
PAIR_OPERANDS = 'qkv'


def check_pool_mode(pool_mode: str) -> bool:
    """Return True for max pooling, False for average pooling; reject anything else."""
    if pool_mode not in POOL_MODES:
        raise ValueError(f"pool_mode must be 'avg' or 'max', got {pool_mode!r}")
    return pool_mode == 'max'


def check_min_size(min_size: float, aligned: bool) -> None:
    """A legacy box's smallest side must be a non-negative number; aligned boxes have none."""
    if not min_size >= 0:
        raise ValueError(f'RoIAlign min_size must be >= 0 (pixels of the feature map), got {min_size!r}')
    if aligned and min_size != 1:
        raise ValueError(f'RoIAlign min_size={min_size!r} applies to legacy boxes only: set aligned=False, '
                         'or leave min_size at 1')


def check_rois(input: Tensor, rois: Tensor) -> None:
    """Check the shapes of RoIAlign's arguments (same rules as the compiled op)."""
    if input.dim() != 4:
        raise ValueError(f'roi_align: input must be (B, C, H, W), got {tuple(input.shape)}')
    if rois.dim() != 2 or rois.size(1) != 5:
        raise ValueError('roi_align: rois must have shape (K, 5) = (batch_index, x1, y1, x2, '
                         f'y2), got {tuple(rois.shape)}')


def _axis_samples(start: Tensor, bin_size: Tensor, bins: int, grid: int) -> Tensor:
    """Sample coordinates along one axis, shape (bins * grid,), bin-major."""
    bin_index = torch.arange(bins, dtype=start.dtype, device=start.device)[:, None]
    sample_index = torch.arange(grid, dtype=start.dtype, device=start.device)[None, :]
    return (start + bin_index * bin_size + (sample_index + 0.5) * bin_size / grid).flatten()


def _axis_bilinear(coords: Tensor, size: int):
    """Per-axis part of bilinear sampling: (in_map, low, high, weight_low, weight_high).

    A sample more than one pixel outside ``[0, size - 1]`` is out of the map; within one pixel
    it is clamped onto the border.
    """
    in_map = (coords >= -1) & (coords <= size)
    coords = coords.clamp(min=0)
    low = coords.floor().long().clamp(max=size - 1)
    at_last = low >= size - 1
    high = torch.where(at_last, low, low + 1)
    coords = torch.where(at_last, low.to(coords.dtype), coords)
    weight_high = coords - low.to(coords.dtype)
    return in_map, low, high, 1 - weight_high, weight_high


def _sample_plane(plane: Tensor, ys: Tensor, xs: Tensor) -> Tensor:
    """Bilinear samples of ``plane`` (C, H, W) on the grid ys x xs -> (C, len(ys), len(xs))."""
    y_in, y_low, y_high, hy, ly = _axis_bilinear(ys, plane.size(1))
    x_in, x_low, x_high, hx, lx = _axis_bilinear(xs, plane.size(2))

    def corner(rows: Tensor, cols: Tensor) -> Tensor:
        return plane[:, rows][:, :, cols]

    values = (
        hy[:, None] * hx[None, :] * corner(y_low, x_low) +
        hy[:, None] * lx[None, :] * corner(y_low, x_high) +
        ly[:, None] * hx[None, :] * corner(y_high, x_low) +
        ly[:, None] * lx[None, :] * corner(y_high, x_high))
    return values * (y_in[:, None] & x_in[None, :]).to(values.dtype)


def roi_align_reference(input: Tensor,
                        rois: Tensor,
                        output_size: Union[int, Tuple[int, int]],
                        spatial_scale: float = 1.0,
                        sampling_ratio: int = 0,
                        pool_mode: str = 'avg',
                        aligned: bool = True,
                        min_size: float = 1.0) -> Tensor:
    """RoIAlign from its definition; arguments as :func:`clipdense.ops.roi_align`.

    Each box (batch_index, x1, y1, x2, y2) is scaled by ``spatial_scale`` (and shifted by half
    a pixel when ``aligned``), split into ``output_size`` bins, and every bin pools a regular
    grid of bilinear samples (``sampling_ratio`` per axis, or ``ceil(bin size)`` when it is
    <= 0). Samples more than one pixel outside the map count as 0; bins without samples give 0.
    """
    max_pool = check_pool_mode(pool_mode)
    check_rois(input, rois)
    check_min_size(min_size, aligned)
    pooled_h, pooled_w = _pair(output_size)
    rois = rois.to(input.dtype)
    outputs = []
    for roi in rois:
        offset = 0.5 if aligned else 0.0
        start_w, start_h = roi[1] * spatial_scale - offset, roi[2] * spatial_scale - offset
        width = (roi[3] * spatial_scale - offset) - start_w
        height = (roi[4] * spatial_scale - offset) - start_h
        if not aligned:  # legacy: boxes are at least min_size pixels wide and high
            width, height = width.clamp(min=min_size), height.clamp(min=min_size)
        bin_h, bin_w = height / pooled_h, width / pooled_w
        grid_h = sampling_ratio if sampling_ratio > 0 else math.ceil(float(height / pooled_h))
        grid_w = sampling_ratio if sampling_ratio > 0 else math.ceil(float(width / pooled_w))
        if grid_h <= 0 or grid_w <= 0:
            outputs.append(input.new_zeros(input.size(1), pooled_h, pooled_w))
            continue
        ys = _axis_samples(start_h, bin_h, pooled_h, grid_h)
        xs = _axis_samples(start_w, bin_w, pooled_w, grid_w)
        samples = _sample_plane(input[int(roi[0])], ys, xs)
        # (C, ph * gh, pw * gw) -> (C, ph, pw, gh * gw)
        samples = samples.unflatten(1, (pooled_h, grid_h)).unflatten(3, (pooled_w, grid_w))
        samples = samples.permute(0, 1, 3, 2, 4).flatten(3)
        if max_pool:
            outputs.append(samples.max(dim=-1).values)
        else:
            outputs.append(samples.sum(dim=-1) / (grid_h * grid_w))
    if not outputs:
        return input.new_zeros(0, input.size(1), pooled_h, pooled_w)
    return torch.stack(outputs)


def parse_pairs(pairs: Union[str, Sequence[str]]) -> Tuple[str, ...]:
    """Normalise dense-attention pairs: ``'qq'`` -> ``('qq',)``; validate every pair."""
    pairs = (pairs, ) if isinstance(pairs, str) else tuple(pairs)
    if not pairs:
        raise ValueError('dense attention needs at least one pair, e.g. pairs=("qq", "kk")')
    for pair in pairs:
        if not (isinstance(pair, str) and len(pair) == 2 and all(name in PAIR_OPERANDS
                                                                 for name in pair)):
            raise ValueError(f'dense attention pairs are two letters of "qkv" such as "qk", '
                             f'"qq", "kk", "vv"; got {pair!r}')
    if len(set(pairs)) != len(pairs):
        raise ValueError(f'dense attention pairs must be distinct, got {pairs}')
    return pairs


def check_attention_inputs(q: Tensor, k: Tensor, v: Tensor, scale: Optional[float],
                           bias: Optional[Tensor]) -> Tuple[float, Optional[Tensor]]:
    """Validate q, k, v and bias; return the scale (default ``d ** -0.5``) and the bias in
    q's dtype."""
    if q.dim() != 4 or k.shape != q.shape or v.shape != q.shape:
        raise ValueError('dense attention: q, k, v must all be (B, heads, N, d), got '
                         f'{tuple(q.shape)}, {tuple(k.shape)}, {tuple(v.shape)}')
    if scale is None:
        scale = q.size(-1)**-0.5
    if bias is not None:
        batch, heads, tokens = q.shape[:3]
        try:
            torch.broadcast_shapes(bias.shape, (batch, heads, tokens, tokens))
        except RuntimeError:
            raise ValueError(f'dense attention: bias {tuple(bias.shape)} does not broadcast to '
                             f'(B, heads, N, N) = {(batch, heads, tokens, tokens)}; pass a '
                             'heads-shared (N, N) or a (B, heads, N, N) bias') from None
        bias = bias.to(q.dtype)
    return float(scale), bias


def dense_attention_reference(q: Tensor,
                              k: Tensor,
                              v: Tensor,
                              pairs: Union[str, Sequence[str]] = ('qq', 'kk'),
                              scale: Optional[float] = None,
                              bias: Optional[Tensor] = None) -> Tensor:
    """Dense attention as a bmm/softmax chain; arguments as
    :func:`clipdense.ops.dense_attention`.

    ``out = sum over pairs (a, b) of softmax(a @ b^T * scale + bias) @ v``.
    """
    pairs = parse_pairs(pairs)
    scale, bias = check_attention_inputs(q, k, v, scale, bias)
    operands = dict(q=q, k=k, v=v)
    output = None
    for lhs, rhs in pairs:
        logits = operands[lhs] @ operands[rhs].transpose(-2, -1) * scale
        if bias is not None:
            logits = logits + bias
        term = logits.softmax(dim=-1) @ v
        output = term if output is None else output + term
    return output


def pamr_neighbours(x: Tensor, dilations: Sequence[int], with_centre: bool = False):
    """Values (B, C, H, W) of the 3×3 neighbourhood at each dilation, read from a replicate-padded copy:
    8 neighbours per dilation in row-major order, each dilation optionally preceded by the centre."""
    height, width = x.shape[-2:]
    for d in dilations:
        padded = torch.nn.functional.pad(x, (d, d, d, d), mode='replicate')
        if with_centre:
            yield x
        for dy in (-d, 0, d):
            for dx in (-d, 0, d):
                if dy or dx:
                    yield padded[:, :, d + dy:d + dy + height, d + dx:d + dx + width]


def pamr_propagate_reference(scores: Tensor, weights: Tensor, dilations: Sequence[int], steps: int) -> Tensor:
    """PAMR's propagation: ``steps`` times, every score becomes ``sum_k weights[:, k] * neighbour_k`` over the
    ``K = 8 · len(dilations)`` neighbours of ``pamr_neighbours``, a product rounded then added, in order.

    Args:
        scores: (B, C, H, W).
        weights: (B, K, H, W), shared by the channels.
    """
    if steps == 0:
        return scores
    # Into buffers made once (a fresh full-size map per operation costs more than the arithmetic on CPUs), never
    # into the caller's scores; stacking the neighbours would hold K copies of the scores.
    buffers, product = (torch.empty_like(scores), torch.empty_like(scores)), torch.empty_like(scores)
    for step in range(steps):
        refined = buffers[step % 2]
        for index, neighbour in enumerate(pamr_neighbours(scores, dilations)):
            if index == 0:
                torch.mul(weights[:, index:index + 1], neighbour, out=refined)
            else:
                refined += torch.mul(weights[:, index:index + 1], neighbour, out=product)
        scores = refined
    return scores
