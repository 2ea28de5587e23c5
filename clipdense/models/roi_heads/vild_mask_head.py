"""ViLD's mask head: tensorflow/tpu's ``MaskrcnnHead`` (``modeling/architecture/heads.py``) on mmdet's
``FCNMaskHead``."""
import torch
from mmcv.cnn import build_norm_layer
from mmdet.models.roi_heads.mask_heads import FCNMaskHead

from clipdense.registry import MODELS


@MODELS.register_module()
class ViLDMaskHead(FCNMaskHead):
    """mmdet's ``FCNMaskHead`` with the reference's batch norm between the deconvolution (``conv5-mask``) and its
    ReLU; the convolutions, their norms, the deconvolution and the logits are mmdet's."""

    def __init__(self, **kwargs):
        super().__init__(**kwargs)
        if self.upsample_method != 'deconv' or not self.norm_cfg:
            raise ValueError('ViLDMaskHead normalises its deconvolution: it needs upsample_cfg type "deconv" and a '
                             f'norm_cfg (got {self.upsample_method!r} and {self.norm_cfg!r}); use mmdet.FCNMaskHead '
                             'for a head without them')
        self.upsample_norm = build_norm_layer(self.norm_cfg, self.conv_out_channels)[1]

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        for conv in self.convs:
            x = conv(x)
        return self.conv_logits(self.relu(self.upsample_norm(self.upsample(x))))
