"""mmdet's multi-scale deformable-attention pixel decoder, kept in fp32 under mixed precision."""
from typing import List

import torch
from mmdet.models.layers import MSDeformAttnPixelDecoder

from clipdense.registry import MODELS


@MODELS.register_module()
class FP32MSDeformAttnPixelDecoder(MSDeformAttnPixelDecoder):
    """``MSDeformAttnPixelDecoder`` run in fp32 on fp32 inputs even under autocast, as Mask2Former's and FC-CLIP's
    decoders run (``@autocast(enabled=False)`` and ``.float()`` in the references: deformable attention is not
    reliable in half precision). Its weights and forward are mmdet's otherwise (the same network as the references,
    parameter for parameter)."""

    def forward(self, feats: List[torch.Tensor]):
        with torch.autocast(device_type=feats[0].device.type, enabled=False):
            return super().forward([feat.float() for feat in feats])
