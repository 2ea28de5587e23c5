"""A frozen CLIP ConvNeXt as a multi-scale backbone whose pooled vectors it can still classify (FC-CLIP)."""
from typing import Tuple

import torch
from mmengine.model import BaseModule
from torch import nn

from clipdense.models.clip import StagedConvNeXt
from clipdense.registry import MODELS


@MODELS.register_module()
class FrozenCLIPConvNeXt(BaseModule):
    """An open_clip ConvNeXt vision tower, frozen and always in eval mode, run without gradients.

    ``forward(images)`` returns the four stage maps (strides 4, 8, 16, 32; FC-CLIP's res2–res5), the last after
    the trunk's ``norm_pre`` (identity for CLIP's ConvNeXts), as FC-CLIP's backbone returns them.
    ``pooled_embedding(pooled)`` maps last-stage vectors pooled over any region to CLIP's joint space through the
    trunk's head and CLIP's head, as CLIP was trained (see ``StagedConvNeXt``).

    Args:
        visual: the open_clip ``TimmModel`` with a ConvNeXt trunk (passed in by the segmentor from ``model.clip``).
    """

    def __init__(self, visual: nn.Module, init_cfg=None):
        super().__init__(init_cfg=init_cfg)
        self.tower = StagedConvNeXt(visual)
        visual.requires_grad_(False)

    @property
    def out_channels(self) -> Tuple[int, ...]:
        return self.tower.stage_channels

    @property
    def embed_dim(self) -> int:
        return self.tower.embed_dim

    def init_weights(self):
        """CLIP's weights come from ``build_clip``; mmengine's default initialisers must not touch them."""

    def train(self, mode: bool = True):
        super().train(mode)
        self.tower.eval()
        return self

    @torch.no_grad()
    def forward(self, images: torch.Tensor) -> Tuple[torch.Tensor, ...]:
        last, states = self.tower.run_stages(self.tower.stem(images), keep=range(self.tower.num_stages - 1))
        return tuple(states[index] for index in sorted(states)) + (last,)

    @torch.no_grad()
    def pooled_embedding(self, pooled: torch.Tensor) -> torch.Tensor:
        """CLIP embeddings (..., embed_dim) of pooled last-stage vectors (..., channels)."""
        return self.tower.pooled_embedding(pooled.flatten(0, -2)).view(*pooled.shape[:-1], -1)
