"""CLIP's ViT split in two as SAN uses it: the first blocks extract features for the side adapter, the remaining
blocks recognise masks through [SLS] tokens steered by the side adapter's attention bias."""
from dataclasses import dataclass
from typing import List, Sequence, Tuple

import torch
import torch.nn.functional as F
from mmengine.model import BaseModule
from torch import nn

from clipdense.models.clip import StagedViT, insert_tokens
from clipdense.registry import MODELS

# SAN's additive bias for pairs that must not attend (the reference uses -100, not -inf).
BLOCKED = -100.0


@dataclass
class SANCLIPFeatures:
    """What the first blocks of CLIP give SAN: patch maps (B, width, h, w) for the side adapter's fusions and the
    full token state (B, 1 + h*w, width) at the split, from which the recognition blocks continue."""

    maps: List[torch.Tensor]
    state: torch.Tensor
    grid: Tuple[int, int]


@MODELS.register_module()
class SANCLIPViT(BaseModule):
    """A frozen CLIP ViT whose positional embedding trains, run as SAN (Xu et al., CVPR 2023; MendelXu/SAN) runs it.

    ``forward(images)``: the padded, normalised images are resized by ``input_scale`` (bilinear with that scale
    factor, as the reference calls ``F.interpolate``), embedded with the positional embedding resized bicubically
    at every forward (it is a trainable table of CLIP's grid), and run through blocks ``0 .. split - 1``. The patch
    maps after ``ln_pre`` (layer 0) and after the blocks in ``feature_layers`` (1-based) go to the side adapter.

    ``recognize(features, bias)``: CLIP's remaining blocks rerun on ``[SLS; CLS; patches]`` of the split state with
    ``num_queries`` [SLS] tokens copied from the class-token state. [SLS] tokens attend to themselves and, with the
    side adapter's bias (adaptive-max-pooled from its grid to CLIP's), to the patches; -100 to the other [SLS] and
    to CLS; CLS and patches attend as in CLIP (-100 to every [SLS]). The same bias serves every rerun block. Then
    ``ln_post``, ``proj`` and L2 normalisation: one CLIP embedding per mask proposal.

    Args:
        visual: the open_clip ViT (passed in by the segmentor from ``model.clip``).
        split: blocks before the split extract features (9 of ViT-B's 12, 18 of ViT-L's 24).
        feature_layers: layers whose patch maps the side adapter fuses, 0 meaning after ``ln_pre``.
        input_scale: resize factor of the side adapter's input for CLIP (0.5; 0.7 for ViT-L/14-336).
    """

    def __init__(self, visual: nn.Module, split: int = 9, feature_layers: Sequence[int] = (0, 3, 6, 9),
                 input_scale: float = 0.5, init_cfg=None):
        super().__init__(init_cfg=init_cfg)
        self.tower = StagedViT(visual, pos_interpolation='exact')
        if not 0 < split < self.tower.num_blocks:
            raise ValueError(f'split must leave blocks on both sides: got {split} for a ViT of '
                             f'{self.tower.num_blocks} blocks')
        if not all(0 <= layer <= split for layer in feature_layers):
            raise ValueError(f'feature_layers {list(feature_layers)} must lie in 0..split ({split})')
        visual.requires_grad_(False)
        visual.positional_embedding.requires_grad_(True)
        self.split = split
        self.feature_layers = tuple(feature_layers)
        self.input_scale = input_scale

    def init_weights(self):
        """CLIP's weights come from ``build_clip``; mmengine's default initialisers must not touch them."""

    def train(self, mode: bool = True):
        super().train(mode)
        self.tower.eval()
        return self

    @property
    def num_heads(self) -> int:
        return self.tower.num_heads

    def forward(self, images: torch.Tensor) -> SANCLIPFeatures:
        if self.input_scale != 1:
            images = F.interpolate(images, scale_factor=self.input_scale, mode='bilinear', align_corners=False)
        x, grid = self.tower.embed(images)
        keep = [layer - 1 for layer in self.feature_layers if layer > 0]
        state, states = self.tower.run_blocks(x, 0, self.split, keep=keep)
        maps = [self._patch_map(x if layer == 0 else states[layer - 1], grid) for layer in self.feature_layers]
        return SANCLIPFeatures(maps, state, grid)

    @staticmethod
    def _patch_map(tokens: torch.Tensor, grid: Tuple[int, int]) -> torch.Tensor:
        return tokens[:, 1:].transpose(1, 2).reshape(tokens.shape[0], -1, *grid)

    def recognize(self, features: SANCLIPFeatures, bias: torch.Tensor) -> torch.Tensor:
        """L2-normalised CLIP embeddings (B, Q, embed_dim) of the Q masks whose attention ``bias``
        (B, heads or 1, Q, h, w) on the side adapter's grid steers the [SLS] tokens."""
        state = features.state
        batch, num_heads = state.shape[0], self.num_heads
        num_queries = bias.shape[2]
        if bias.shape[1] not in (1, num_heads):
            raise ValueError(f'attention bias for {bias.shape[1]} heads; CLIP has {num_heads}')
        pooled = F.adaptive_max_pool2d(bias.flatten(1, 2), features.grid)
        pooled = pooled.view(batch, -1, num_queries, pooled.shape[-2] * pooled.shape[-1])
        pooled = pooled.expand(-1, num_heads, -1, -1).reshape(batch * num_heads, num_queries, -1)
        length = num_queries + state.shape[1]
        mask = state.new_zeros(length, length)
        mask[:, :num_queries] = BLOCKED
        mask.diagonal()[:num_queries] = 0
        mask[:num_queries, num_queries] = BLOCKED
        mask = mask.expand(batch * num_heads, -1, -1).clone()
        mask[:, :num_queries, num_queries + 1:] = pooled
        tokens = insert_tokens(state, state[:, :1].expand(-1, num_queries, -1), 0)
        tokens, _ = self.tower.run_blocks(tokens, self.split, attn_mask=mask)
        return F.normalize(self.tower.project(tokens[:, :num_queries]), dim=-1)
