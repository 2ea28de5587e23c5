"""Dense features from a CLIP vision tower at any input size, composed from the staged towers.

Three tower kinds are supported, each through its staged form (``staged_vision``):

* ``vit`` (``StagedViT``): patch tokens after ``ln_post`` and ``proj``; the positional embedding is resized to
  the input's patch grid; the last block can be replaced by a method's variant (see ``last_blocks.py``).
* ``resnet`` (``StagedModifiedResNet``): the attention pool's value path, ``c_proj(v_proj(x))``, at every
  position of the last feature map (as MaskCLIP reads dense features from ResNet CLIPs).
* ``convnext`` (``StagedConvNeXt``): the trunk's head norm and the CLIP head at every position (an approximation,
  see ``staged_convnext.py``).
"""
from dataclasses import dataclass, field
from typing import List, Optional, Sequence, Union

import torch
import torch.nn.functional as F
from torch import nn

from .pos_embed import POS_INTERPOLATIONS
from .staged_convnext import StagedConvNeXt
from .staged_resnet import StagedModifiedResNet
from .staged_vit import StagedViT, run_block

StagedTower = Union[StagedViT, StagedModifiedResNet, StagedConvNeXt]


def tower_kind(visual: nn.Module) -> str:
    if hasattr(visual, 'transformer') and hasattr(visual, 'conv1'):
        return 'vit'
    if hasattr(visual, 'attnpool') and hasattr(visual, 'layer4'):
        return 'resnet'
    trunk = getattr(visual, 'trunk', None)
    if trunk is not None and hasattr(trunk, 'stages') and hasattr(trunk, 'stem'):
        return 'convnext'
    raise TypeError(f'unsupported CLIP vision tower {type(visual).__name__}: clipdense reads dense features '
                    'from open_clip ViTs, ModifiedResNets and timm ConvNeXts.')


def staged_vision(visual: nn.Module, pos_interpolation: str = 'exact') -> StagedTower:
    """The staged form of an open_clip vision tower (``pos_interpolation`` applies to ViTs)."""
    kind = tower_kind(visual)
    if kind == 'vit':
        return StagedViT(visual, pos_interpolation)
    if pos_interpolation not in POS_INTERPOLATIONS:
        raise ValueError(f'pos_interpolation must be one of {POS_INTERPOLATIONS}, got {pos_interpolation!r}')
    return StagedModifiedResNet(visual) if kind == 'resnet' else StagedConvNeXt(visual)

@dataclass
class DenseFeatures:
    """``dense``: (B, embed_dim, h, w) features in CLIP's joint space; ``levels``: requested intermediate
    maps (B, C_i, h_i, w_i); ``tokens``: for ViTs, the last block's output tokens before ``ln_post``;
    ``keys``: when asked for, the last attention's keys per position (B, h*w, C) as MaskCLIP reads them
    (ViT: ``out_proj(k)`` of the last block's input; ResNet: the attention pool's ``k_proj``)."""

    dense: torch.Tensor
    levels: List[torch.Tensor] = field(default_factory=list)
    tokens: Optional[torch.Tensor] = None
    keys: Optional[torch.Tensor] = None


class DenseCLIPVision(nn.Module):
    """Dense features of an open_clip vision tower (the read-out training-free methods and ``CLIPVisionBackbone``
    use).

    Args:
        visual: ``clip_model.visual``.
        last_block: a module called as ``last_block(block, x, grid)`` instead of the ViT's last block, with
            ``x`` the (B, 1 + h*w, C) tokens; ``None`` keeps CLIP's own block.
        pos_interpolation: see ``interpolate_pos_embed`` (ViTs).
    """

    def __init__(self, visual: nn.Module, last_block: Optional[nn.Module] = None,
                 pos_interpolation: str = 'exact'):
        super().__init__()
        self.tower = staged_vision(visual, pos_interpolation)
        if last_block is not None and self.kind != 'vit':
            raise ValueError(f'a last-block variant needs a ViT; this CLIP tower is a {self.kind}.')
        self.last_block = last_block

    @property
    def kind(self) -> str:
        return self.tower.kind

    @property
    def visual(self) -> nn.Module:
        return self.tower.visual

    @property
    def patch_size(self) -> int:
        """Input pixels per output feature (stride of ``dense``)."""
        return self.tower.patch_size

    @property
    def embed_dim(self) -> int:
        return self.tower.embed_dim

    @property
    def level_channels(self) -> List[int]:
        """Channels of each available intermediate level (ViT: every block; CNNs: every stage, 0-based)."""
        if self.kind == 'vit':
            return [self.tower.width] * self.tower.num_blocks
        if self.kind == 'resnet':
            return list(self.tower.layer_channels)
        return list(self.tower.stage_channels)

    def forward(self, images: torch.Tensor, levels: Sequence[int] = (), keys: bool = False) -> DenseFeatures:
        if keys and self.kind == 'convnext':
            raise ValueError('a ConvNeXt CLIP has no attention keys (MaskCLIP key smoothing needs a ViT or ResNet)')
        if self.kind == 'vit':
            return self._forward_vit(images, levels, keys)
        if self.kind == 'resnet':
            return self._forward_resnet(images, levels, keys)
        return self._forward_convnext(images, levels)

    def _forward_vit(self, images: torch.Tensor, levels: Sequence[int], keys: bool) -> DenseFeatures:
        tower = self.tower
        x, (height, width) = tower.embed(images)
        last = tower.num_blocks - 1
        x, states = tower.run_blocks(x, 0, last, keep=levels)
        block = tower.blocks[last]
        last_keys = None
        if keys:
            attn = block.attn
            channels = x.shape[-1]
            k = F.linear(block.ln_1(x), attn.in_proj_weight[channels:2 * channels],
                         attn.in_proj_bias[channels:2 * channels])
            last_keys = attn.out_proj(k)[:, 1:]
        x = self.last_block(block, x, (height, width)) if self.last_block is not None else run_block(block, x)
        if last in levels:
            states[last] = x
        batch = x.shape[0]
        dense = tower.project(x)[:, 1:].transpose(1, 2).reshape(batch, -1, height, width)
        maps = [states[index][:, 1:].transpose(1, 2).reshape(batch, -1, height, width) for index in sorted(states)]
        return DenseFeatures(dense=dense, levels=maps, tokens=x, keys=last_keys)

    def _forward_resnet(self, images: torch.Tensor, levels: Sequence[int], keys: bool) -> DenseFeatures:
        tower = self.tower
        x, states = tower.run_layers(tower.stem(images), keep=[level + 1 for level in levels])
        return DenseFeatures(dense=tower.value_embedding(x), levels=[states[index] for index in sorted(states)],
                             keys=tower.key_embedding(x) if keys else None)

    def _forward_convnext(self, images: torch.Tensor, levels: Sequence[int]) -> DenseFeatures:
        tower = self.tower
        x, states = tower.run_stages(tower.stem(images), keep=levels)
        return DenseFeatures(dense=tower.dense_embedding(x), levels=[states[index] for index in sorted(states)])
