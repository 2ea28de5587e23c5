"""ViLD's ResNet: tensorflow/tpu's ``resnet_v1`` (``modeling/architecture/resnet.py``) on mmdet's ``ResNet``."""
import torch
import torch.nn.functional as F
from mmdet.models.backbones import ResNet
from torch import nn

from clipdense.registry import MODELS


class SamePaddingMaxPool2d(nn.MaxPool2d):
    """Max pooling with TensorFlow's "same" padding: the output has ceil(size / stride) positions and the padding
    goes after the input where it is uneven (the stem's 3x3 stride-2 pool over an even side: 0 before, 1 after,
    where torch's ``padding=1`` pads 1 on both sides and shifts every window by a pixel)."""

    def __init__(self, kernel_size: int, stride: int):
        super().__init__(kernel_size, stride)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        padding = []
        for size in (x.shape[-1], x.shape[-2]):
            total = max(self.kernel_size - (self.stride if size % self.stride == 0 else size % self.stride), 0)
            padding += [total // 2, total - total // 2]
        return super().forward(F.pad(x, padding, value=float('-inf')))


@MODELS.register_module()
class ViLDResNet(ResNet):
    """mmdet's ResNet (``style='pytorch'``: the stride on the 3x3 convolution, as the reference's bottleneck;
    explicit symmetric padding, as its ``conv2d_fixed_padding``) with the stem's max pooling padded as
    TensorFlow's "same". ``zero_init_residual`` defaults to False: the reference starts every batch norm's scale at
    one."""

    def __init__(self, zero_init_residual: bool = False, **kwargs):
        super().__init__(zero_init_residual=zero_init_residual, **kwargs)
        if self.deep_stem:
            raise ValueError('ViLDResNet: the reference has no deep stem (deep_stem=False)')
        self.maxpool = SamePaddingMaxPool2d(kernel_size=3, stride=2)
