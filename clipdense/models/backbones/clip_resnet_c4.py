"""RegionCLIP's C4 backbone: a CLIP ModifiedResNet up to ``layer3`` (res4, stride 16), its ``layer4`` and attention
pool kept for the RoI head, all batch norms frozen."""
from typing import Optional, Tuple

import torch
from mmengine.model import BaseModule
from torch import nn

from clipdense.models.clip import StagedModifiedResNet, build_clip
from clipdense.registry import MODELS
from clipdense.utils import UserError


class BackboneConfigError(UserError, ValueError):
    """A CLIPResNetC4 option that cannot work."""


@MODELS.register_module()
class CLIPResNetC4(BaseModule):
    """CLIP's ModifiedResNet as a C4 detection backbone (RegionCLIP's ``clip_backbone.py`` with ``res4`` out).

    ``forward(images)`` returns ``(res4,)``: the stem and ``layer1..3`` (stride 16). ``layer4`` and the attention
    pool are created here, as in the reference, and used by ``RegionCLIPRoIHead`` on RoI maps (``run_res5``,
    ``attention_pool``). Images must be normalised with CLIP's mean/std on 0–1 RGB (the data preprocessor's
    ``mean=[122.77, 116.75, 104.09], std=[68.50, 66.63, 70.32]`` on 0–255, ``bgr_to_rgb=True``).

    Every batch norm is frozen (the reference's FrozenBN): eval mode always, no gradients for its parameters.

    Args:
        clip: ``dict(name=..., pretrained=...)`` of the CLIP to build, when ``visual`` is not given.
        visual: an open_clip ``ModifiedResNet`` (the detector passes its CLIP's ``visual``).
        frozen_stages: mmdet's convention: ``-1`` nothing frozen, ``0`` the stem, ``k`` the stem and ``layer1..k``.
            RegionCLIP's ``FREEZE_AT 2`` (stem + res2) is ``frozen_stages=1``.
    """

    def __init__(self, clip: Optional[dict] = None, visual: Optional[nn.Module] = None, frozen_stages: int = 1,
                 init_cfg=None):
        super().__init__(init_cfg=init_cfg)
        if visual is None:
            if clip is None:
                raise BackboneConfigError('CLIPResNetC4 needs clip=dict(name=..., pretrained=...) or a visual tower')
            visual = build_clip(clip['name'], clip.get('pretrained')).visual  # the text tower is not kept
        if not hasattr(visual, 'attnpool'):
            raise BackboneConfigError(f'CLIPResNetC4 needs a ResNet CLIP (ModifiedResNet), got '
                                      f'{type(visual).__name__}: set clip.name to a ResNet CLIP such as "RN50"')
        if not -1 <= frozen_stages <= 4:
            raise BackboneConfigError(f'frozen_stages={frozen_stages} is out of range: use -1..4 (1: stem + layer1)')
        self.tower = StagedModifiedResNet(visual)
        self.frozen_stages = frozen_stages
        self._freeze()

    @property
    def out_channels(self) -> Tuple[int]:
        return (self.tower.layer_channels[2],)

    @property
    def embed_dim(self) -> int:
        """Width of the attention pool's output (RN50 1024, RN50x4 640)."""
        return self.tower.embed_dim

    @property
    def layer4(self) -> nn.Module:
        return self.tower.layer(4)

    @property
    def attnpool(self) -> nn.Module:
        return self.tower.visual.attnpool

    def _freeze(self) -> None:
        visual = self.tower.visual
        if self.frozen_stages >= 0:
            for name in ('conv1', 'bn1', 'conv2', 'bn2', 'conv3', 'bn3'):
                getattr(visual, name).requires_grad_(False)
        for index in range(1, self.frozen_stages + 1):
            self.tower.layer(index).requires_grad_(False)
        for module in visual.modules():
            if isinstance(module, nn.modules.batchnorm._BatchNorm):
                module.requires_grad_(False)

    def init_weights(self):
        """CLIP's weights come from ``build_clip`` (or a converted checkpoint); mmengine's initialisers keep off."""

    def train(self, mode: bool = True):
        super().train(mode)
        for module in self.tower.visual.modules():  # frozen BN: batch statistics are never used or updated
            if isinstance(module, nn.modules.batchnorm._BatchNorm):
                module.eval()
        return self

    def forward(self, images: torch.Tensor) -> Tuple[torch.Tensor]:
        res4, _ = self.tower.run_layers(self.tower.stem(images), 1, 3)
        return (res4,)

    def run_res5(self, roi_features: torch.Tensor) -> torch.Tensor:
        """``layer4`` on RoI maps of res4 (stride 2: a pooler of 14 gives 7×7)."""
        return self.tower.run_layers(roi_features, 4, 4)[0]

    def attention_pool(self, res5: torch.Tensor) -> torch.Tensor:
        """CLIP's attention pool on res5 maps → (N, embed_dim), un-normalised."""
        return self.tower.attention_pool(res5)
