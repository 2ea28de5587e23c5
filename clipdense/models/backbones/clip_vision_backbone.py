from typing import Optional, Sequence, Tuple

import torch
from mmengine.model import BaseModule
from torch import nn

from clipdense.models.clip import DenseCLIPVision
from clipdense.registry import MODELS


@MODELS.register_module()
class CLIPVisionBackbone(BaseModule):
    """An mmseg/mmdet backbone over a CLIP vision tower.

    Returns the intermediate maps at ``out_indices`` (ViT: block indices; CNNs: stage indices) followed by
    the dense map in CLIP's joint embedding space, so heads pick levels with ``in_index`` and ``-1`` is
    always the CLIP-space map.

    Args:
        visual: the open_clip vision tower (``clip_model.visual``); segmentors pass it in after building
            the CLIP from ``model.clip``.
        out_indices: intermediate levels to return.
        last_block: config of a last-block variant (ViT only), e.g. ``dict(type='SCLIPLastBlock')``.
        pos_interpolation: ``'exact'`` or ``'offset'`` (see ``interpolate_pos_embed``).
        frozen: keep the CLIP weights fixed (no gradients, eval-mode normalisation).
    """

    def __init__(self, visual: nn.Module, out_indices: Sequence[int] = (), last_block: Optional[dict] = None,
                 pos_interpolation: str = 'exact', frozen: bool = True, init_cfg=None):
        super().__init__(init_cfg=init_cfg)
        variant = MODELS.build(last_block) if last_block is not None else None
        self.encoder = DenseCLIPVision(visual, last_block=variant, pos_interpolation=pos_interpolation)
        self.out_indices = tuple(out_indices)
        self.frozen = frozen
        if frozen:
            self.encoder.requires_grad_(False)

    @property
    def out_channels(self) -> Tuple[int, ...]:
        levels = self.encoder.level_channels
        return tuple(levels[i] for i in self.out_indices) + (self.encoder.embed_dim,)

    def init_weights(self):
        """CLIP's weights come from ``build_clip``; the default initialisers must not touch them."""

    def train(self, mode: bool = True):
        super().train(mode)
        if self.frozen:
            self.encoder.eval()
        return self

    def forward(self, images: torch.Tensor) -> Tuple[torch.Tensor, ...]:
        features = self.encoder(images, levels=self.out_indices)
        return tuple(features.levels) + (features.dense,)
