"""ViLD's feature pyramid: tensorflow/tpu's ``Fpn`` (``modeling/architecture/fpn.py``), the neck ViLD trains with."""
from typing import List, Optional, Sequence, Tuple

import torch
import torch.nn.functional as F
from mmcv.cnn import build_norm_layer
from mmcv.cnn.bricks import Conv2dAdaptivePadding
from mmengine.model import BaseModule
from torch import nn

from clipdense.registry import MODELS


@MODELS.register_module()
class ViLDFPN(BaseModule):
    """The reference's FPN, which differs from mmdet's ``FPN`` in three ways:

    - each output level is batch-normalised, without an activation (``p{L}-bn``);
    - a level above the backbone's is a 3x3 stride-2 convolution of the level below, taken before its batch norm,
      with TensorFlow's "same" padding (0 before, 1 after on even sides); a second such level sees a ReLU of the
      first (RetinaNet's P7), as in the reference;
    - the top-down path upsamples by nearest neighbour onto the lateral's size.

    Laterals are 1x1 convolutions and outputs 3x3 convolutions with biases, Xavier-uniform (TF's Glorot) initialised.
    ``norm_cfg=None`` drops the batch norms (the reference's ``use_batch_norm: false``).
    """

    def __init__(self,
                 in_channels: Sequence[int],
                 out_channels: int = 256,
                 num_outs: int = 5,
                 norm_cfg: Optional[dict] = dict(type='BN', eps=1e-4, momentum=0.003),
                 init_cfg: dict = dict(type='Xavier', layer='Conv2d', distribution='uniform')):
        super().__init__(init_cfg=init_cfg)
        if num_outs < len(in_channels):
            raise ValueError(f'ViLDFPN: num_outs={num_outs} is fewer than the {len(in_channels)} input levels')
        self.lateral_convs = nn.ModuleList(nn.Conv2d(channels, out_channels, 1) for channels in in_channels)
        self.output_convs = nn.ModuleList(
            nn.Conv2d(out_channels, out_channels, 3, padding=1) for _ in in_channels)
        self.extra_convs = nn.ModuleList(
            Conv2dAdaptivePadding(out_channels, out_channels, 3, stride=2) for _ in range(num_outs - len(in_channels)))
        self.norms = nn.ModuleList(
            build_norm_layer(norm_cfg, out_channels)[1] if norm_cfg else nn.Identity() for _ in range(num_outs))

    def forward(self, inputs: Sequence[torch.Tensor]) -> Tuple[torch.Tensor, ...]:
        laterals = [conv(x) for conv, x in zip(self.lateral_convs, inputs)]
        merged: List[torch.Tensor] = [laterals[-1]]
        for lateral in reversed(laterals[:-1]):
            merged.insert(0, lateral + F.interpolate(merged[0], size=lateral.shape[-2:], mode='nearest'))
        outs = [conv(x) for conv, x in zip(self.output_convs, merged)]
        for index, conv in enumerate(self.extra_convs):
            outs.append(conv(outs[-1] if index == 0 else F.relu(outs[-1])))
        return tuple(norm(x) for norm, x in zip(self.norms, outs))
