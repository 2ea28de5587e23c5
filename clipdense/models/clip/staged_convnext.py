"""An open_clip timm ConvNeXt vision tower run in stages.

``stem`` → ``run_stages`` → ``pooled_embedding`` composes to ``encode_image``. ``pooled_embedding`` takes pooled
vectors of the last stage, so a method can pool over a mask instead of the whole image and then apply the
trunk's head (norm) and CLIP's projection head as the model was trained (FC-CLIP's out-of-vocabulary
classifier). ``dense_embedding`` applies the same heads at every position: an approximation (CLIP was trained on
pooled maps, and pooling does not commute with the head's LayerNorm and MLP) that gives a dense map in CLIP's
joint space.
"""
from typing import Dict, Optional, Sequence, Tuple

import torch
from torch import nn

from .staged_vit import require_input_size


class StagedConvNeXt(nn.Module):
    """Stages of an open_clip ``TimmModel`` with a timm ConvNeXt trunk (``clip_model.visual``). Stages are numbered
    0–3 as in timm; timm's gradient checkpointing (``visual.set_grad_checkpointing()``) applies inside them."""

    kind = 'convnext'
    stride = 32

    def __init__(self, visual: nn.Module):
        super().__init__()
        self.visual = visual

    @property
    def trunk(self) -> nn.Module:
        return self.visual.trunk

    @property
    def patch_size(self) -> int:
        """Input pixels per position of the last stage's map."""
        return self.stride

    @property
    def num_stages(self) -> int:
        return len(self.trunk.stages)

    @property
    def embed_dim(self) -> int:
        return [m for m in self.visual.head.modules() if isinstance(m, nn.Linear)][-1].out_features

    @property
    def stage_channels(self) -> Tuple[int, ...]:
        return tuple(info['num_chs'] for info in self.trunk.feature_info)

    def stem(self, images: torch.Tensor) -> torch.Tensor:
        require_input_size(images, self.stride, "the ConvNeXt CLIP's stride", 'resize the image first.')
        return self.trunk.stem(images)

    def run_stages(self, x: torch.Tensor, start: int = 0, stop: Optional[int] = None,
                   keep: Sequence[int] = ()) -> Tuple[torch.Tensor, Dict[int, torch.Tensor]]:
        """Stages ``start .. stop - 1``; the last stage's output goes through the trunk's ``norm_pre`` (identity for
        CLIP's ConvNeXts). Returns the last map and ``{index: map}`` for ``keep`` (before ``norm_pre``)."""
        stop = self.num_stages if stop is None else stop
        if not 0 <= start <= stop <= self.num_stages:
            raise ValueError(f'stages {start}..{stop} out of range for a ConvNeXt of {self.num_stages} stages')
        states = {}
        for index in range(start, stop):
            x = self.trunk.stages[index](x)
            if index in keep:
                states[index] = x
        if stop == self.num_stages:
            x = self.trunk.norm_pre(x)
        return x, states

    def pooled_embedding(self, pooled: torch.Tensor) -> torch.Tensor:
        """CLIP embeddings (N, embed_dim) of pooled last-stage vectors (N, C): the trunk's head (its norm; timm's
        global pool is the identity on them) then CLIP's projection head."""
        x = self.trunk.head(pooled[:, :, None, None])
        return self.visual.head(x)

    def dense_embedding(self, x: torch.Tensor) -> torch.Tensor:
        """The heads of ``pooled_embedding`` at every position of a last-stage map (N, C, h, w) → (N, D, h, w)."""
        x = self.trunk.head.norm(x)
        return self.visual.head(x.permute(0, 2, 3, 1)).permute(0, 3, 1, 2)

    def forward(self, images: torch.Tensor) -> torch.Tensor:
        """CLIP's image embedding, composed from the stages (equal to ``encode_image``)."""
        x, _ = self.run_stages(self.stem(images))
        return self.visual.head(self.trunk.forward_head(x))
