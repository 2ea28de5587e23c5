"""RoIAlign backed by ``clipdense._ext``: an autograd function and an mmcv-compatible module."""
from typing import Tuple, Union

import torch
from torch import Tensor, nn
from torch.autograd import Function
from torch.autograd.function import once_differentiable
from torch.nn.modules.utils import _pair

from .ext_loader import require_ext
from .reference import check_min_size, check_pool_mode, check_rois


class RoIAlignFunction(Function):
    """Autograd wrapper of the compiled RoIAlign kernels (gradient for ``input`` only)."""

    @staticmethod
    def forward(ctx, input: Tensor, rois: Tensor, output_size: Tuple[int, int],
                spatial_scale: float, sampling_ratio: int, max_pool: bool, aligned: bool,
                min_size: float) -> Tensor:
        ext = require_ext('roi_align')
        # Boxes stay in float32 for float16/bfloat16 features (float64 for float64 ones).
        rois = rois.to(torch.float64 if input.dtype == torch.float64 else torch.float32)
        output, argmax = ext.roi_align_forward(input, rois, output_size[0], output_size[1],
                                               spatial_scale, sampling_ratio, max_pool, aligned, min_size)
        ctx.save_for_backward(rois, argmax)
        ctx.input_size = tuple(input.shape)
        ctx.config = (spatial_scale, sampling_ratio, max_pool, aligned, min_size)
        return output

    @staticmethod
    @once_differentiable
    def backward(ctx, grad_output: Tensor):
        grad_input = None
        if ctx.needs_input_grad[0]:
            rois, argmax = ctx.saved_tensors
            grad_input = require_ext('roi_align').roi_align_backward(grad_output, rois, argmax,
                                                                     list(ctx.input_size),
                                                                     *ctx.config)
        return grad_input, None, None, None, None, None, None, None


def roi_align(input: Tensor,
              rois: Tensor,
              output_size: Union[int, Tuple[int, int]],
              spatial_scale: float = 1.0,
              sampling_ratio: int = 0,
              pool_mode: str = 'avg',
              aligned: bool = True,
              min_size: float = 1.0) -> Tensor:
    """Pool a fixed-size feature map for every box (RoIAlign, Mask R-CNN).

    Args:
        input: features (B, C, H, W); float32/float64 on the CPU, float32/float16/bfloat16
            (and float64) on CUDA.
        rois: boxes (K, 5) = (batch_index, x1, y1, x2, y2) in image coordinates.
        output_size: pooled (height, width), or one int for both.
        spatial_scale: image-to-feature scale, e.g. 1/16 for a stride-16 map.
        sampling_ratio: bilinear samples per bin along each axis; <= 0 chooses
            ``ceil(bin size)`` per box (adaptive).
        pool_mode: 'avg' averages a bin's samples; 'max' keeps the largest, and the gradient
            flows to that sample only (as in mmcv).
        aligned: shift boxes by half a pixel so that pixel centres sit at ``i + 0.5``
            (Detectron2's ``aligned=True``); False keeps the legacy boxes of at least ``min_size``.
        min_size: the smallest width and height of a legacy (not ``aligned``) box, in pixels of the
            feature map: 1 as in Detectron v1 and mmcv; 0 keeps thin boxes as they are, as TF's
            crop-and-resize does. Only 1 is allowed with ``aligned``.

    Returns:
        (K, C, output_height, output_width) features in the input's dtype.
    """
    max_pool = check_pool_mode(pool_mode)
    check_rois(input, rois)
    check_min_size(min_size, aligned)
    return RoIAlignFunction.apply(input, rois, _pair(output_size), float(spatial_scale),
                                  int(sampling_ratio), max_pool, bool(aligned), float(min_size))


class RoIAlign(nn.Module):
    """RoIAlign layer with mmcv's constructor, usable as an mmdet RoI extractor's
    ``roi_layer``.

    mmdet 3.x's ``BaseRoIExtractor.build_roi_layers`` looks a string ``type`` up in
    ``mmcv.ops`` but uses a class ``type`` as it is, so this layer is selected by passing the
    class::

        from clipdense.ops import RoIAlign
        roi_layer = dict(type=RoIAlign, output_size=7, sampling_ratio=0)

    Args:
        output_size: pooled (height, width), or one int for both.
        spatial_scale: image-to-feature scale (the extractor passes 1 / stride).
        sampling_ratio: samples per bin and axis; 0 for adaptive.
        pool_mode: 'avg' or 'max'.
        aligned: half-pixel box offset (see :func:`roi_align`).
        min_size: smallest side of a legacy box (see :func:`roi_align`).
        use_torchvision: run ``torchvision.ops.roi_align`` instead (average pooling only).
    """

    def __init__(self,
                 output_size: Union[int, Tuple[int, int]],
                 spatial_scale: float = 1.0,
                 sampling_ratio: int = 0,
                 pool_mode: str = 'avg',
                 aligned: bool = True,
                 min_size: float = 1.0,
                 use_torchvision: bool = False):
        super().__init__()
        check_pool_mode(pool_mode)
        check_min_size(min_size, aligned)
        if use_torchvision and min_size != 1:
            raise ValueError('RoIAlign(use_torchvision=True) has boxes of at least 1 pixel only; drop '
                             'use_torchvision to set min_size')
        if use_torchvision and pool_mode != 'avg':
            raise ValueError("RoIAlign(use_torchvision=True) supports pool_mode='avg' only; "
                             "drop use_torchvision to max-pool with clipdense's kernel")
        self.output_size = _pair(output_size)
        self.spatial_scale = float(spatial_scale)
        self.sampling_ratio = int(sampling_ratio)
        self.pool_mode = pool_mode
        self.aligned = aligned
        self.min_size = float(min_size)
        self.use_torchvision = use_torchvision

    def forward(self, input: Tensor, rois: Tensor) -> Tensor:
        """Pool (K, C, *output_size) features of ``input`` (B, C, H, W) for ``rois`` (K, 5)."""
        if self.use_torchvision:
            from torchvision.ops import roi_align as torchvision_roi_align
            return torchvision_roi_align(input, rois.to(input.dtype), self.output_size,
                                         self.spatial_scale, self.sampling_ratio, self.aligned)
        return roi_align(input, rois, self.output_size, self.spatial_scale, self.sampling_ratio,
                         self.pool_mode, self.aligned, self.min_size)

    def extra_repr(self) -> str:
        return (f'output_size={self.output_size}, spatial_scale={self.spatial_scale}, '
                f'sampling_ratio={self.sampling_ratio}, pool_mode={self.pool_mode!r}, '
                f'aligned={self.aligned}, min_size={self.min_size}, use_torchvision={self.use_torchvision}')
