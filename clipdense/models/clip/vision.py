"""Dense features from an open_clip vision tower at any input size.

Three tower kinds are supported:

* ``vit`` (open_clip ``VisionTransformer``): patch tokens after ``ln_post`` and ``proj``; the positional
  embedding is interpolated to the input's patch grid; the last block can be replaced by a method's
  variant (see ``last_blocks.py``).
* ``resnet`` (``ModifiedResNet``): the attention pool's value path, ``c_proj(v_proj(x))``, applied to every
  position of the last feature map (as MaskCLIP reads dense features from ResNet CLIPs).
* ``convnext`` (timm-based ``TimmModel`` with a ConvNeXt trunk): the trunk's final norm and the CLIP head
  applied per position (as FC-CLIP does).
"""
import math
from dataclasses import dataclass, field
from typing import List, Optional, Sequence, Tuple

import torch
import torch.nn.functional as F
from torch import nn

POS_INTERPOLATIONS = ('exact', 'offset')


def interpolate_pos_embed(pos_embed: torch.Tensor, grid: Tuple[int, int], mode: str = 'exact') -> torch.Tensor:
    """Resize a ViT positional embedding ``(1 + n, C)`` (class token first) to a ``grid`` of patches.

    ``mode='exact'`` (MaskCLIP): bicubic to exactly ``grid``.
    ``mode='offset'`` (SCLIP, ClearCLIP, NACLIP): bicubic with ``scale_factor=((h + 0.1) / side, (w + 0.1) / side)``
    (the +0.1 keeps floor() from dropping a row). The scale factor, not the output size, enters the sampling
    coordinates, so the two modes give different values.
    Both skip the interpolation when the token count already matches, as the references do (a non-square
    grid with the pretraining token count reuses the table unchanged).
    """
    if mode not in POS_INTERPOLATIONS:
        raise ValueError(f'pos_interpolation must be one of {POS_INTERPOLATIONS}, got {mode!r}')
    height, width = grid
    num_patches = pos_embed.shape[0] - 1
    side = int(math.sqrt(num_patches))
    if side * side != num_patches:
        raise ValueError(f'positional embedding of {num_patches} patches is not a square grid')
    if num_patches == height * width:
        return pos_embed
    cls_pos, patch_pos = pos_embed[:1], pos_embed[1:]
    patch_pos = patch_pos.reshape(1, side, side, -1).permute(0, 3, 1, 2)
    if mode == 'exact':
        patch_pos = F.interpolate(patch_pos, size=(height, width), mode='bicubic', align_corners=False)
    else:
        patch_pos = F.interpolate(patch_pos, scale_factor=((height + 0.1) / side, (width + 0.1) / side),
                                  mode='bicubic', align_corners=False, recompute_scale_factor=False)
        assert patch_pos.shape[-2:] == (height, width), (patch_pos.shape, grid)
    patch_pos = patch_pos.permute(0, 2, 3, 1).reshape(height * width, -1)
    return torch.cat([cls_pos, patch_pos], dim=0)


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
    """Dense features of an open_clip vision tower.

    Args:
        visual: ``clip_model.visual``.
        last_block: a module called as ``last_block(block, x, grid)`` instead of the ViT's last block, with
            ``x`` the (B, 1 + h*w, C) tokens; ``None`` keeps CLIP's own block.
        pos_interpolation: ``'exact'`` or ``'offset'``, see ``interpolate_pos_embed``.
    """

    def __init__(self, visual: nn.Module, last_block: Optional[nn.Module] = None,
                 pos_interpolation: str = 'exact'):
        super().__init__()
        self.visual = visual
        self.kind = tower_kind(visual)
        if last_block is not None and self.kind != 'vit':
            raise ValueError(f'a last-block variant needs a ViT; this CLIP tower is a {self.kind}.')
        self.last_block = last_block
        if pos_interpolation not in POS_INTERPOLATIONS:
            raise ValueError(f'pos_interpolation must be one of {POS_INTERPOLATIONS}, got {pos_interpolation!r}')
        self.pos_interpolation = pos_interpolation

    @property
    def patch_size(self) -> int:
        """Input pixels per output feature (stride of ``dense``)."""
        if self.kind == 'vit':
            return self.visual.patch_size[0]
        return 32

    @property
    def embed_dim(self) -> int:
        if self.kind == 'vit':
            return self.visual.proj.shape[1]
        if self.kind == 'resnet':
            return self.visual.attnpool.c_proj.out_features
        return [m for m in self.visual.head.modules() if isinstance(m, nn.Linear)][-1].out_features

    @property
    def level_channels(self) -> List[int]:
        """Channels of each available intermediate level (ViT: every block; CNNs: every stage)."""
        if self.kind == 'vit':
            return [self.visual.transformer.width] * len(self.visual.transformer.resblocks)
        if self.kind == 'resnet':
            return [getattr(self.visual, f'layer{i}')[-1].conv3.out_channels for i in range(1, 5)]
        return [info['num_chs'] for info in self.visual.trunk.feature_info]

    def forward(self, images: torch.Tensor, levels: Sequence[int] = (), keys: bool = False) -> DenseFeatures:
        if keys and self.kind == 'convnext':
            raise ValueError('a ConvNeXt CLIP has no attention keys (MaskCLIP key smoothing needs a ViT or ResNet)')
        if self.kind == 'vit':
            return self._forward_vit(images, levels, keys)
        if self.kind == 'resnet':
            return self._forward_resnet(images, levels, keys)
        return self._forward_convnext(images, levels)

    def vit_tokens(self, images: torch.Tensor) -> Tuple[torch.Tensor, Tuple[int, int]]:
        """Input tokens of the transformer (after ``ln_pre``) and the patch grid."""
        visual = self.visual
        patch = self.patch_size
        if images.shape[2] < patch or images.shape[3] < patch:
            raise ValueError(f'input {images.shape[2]}x{images.shape[3]} is smaller than the CLIP patch ({patch} px): '
                             'resize the image first (the configs\' Resize does) or pad windows to the patch '
                             "(window_padding='center' or 'corner').")
        x = visual.conv1(images)
        grid = (x.shape[2], x.shape[3])
        x = x.flatten(2).transpose(1, 2)
        cls = visual.class_embedding.to(x.dtype).expand(x.shape[0], 1, -1)
        x = torch.cat([cls, x], dim=1)
        x = x + interpolate_pos_embed(visual.positional_embedding, grid, self.pos_interpolation).to(x.dtype)
        return visual.ln_pre(x), grid

    def _forward_vit(self, images: torch.Tensor, levels: Sequence[int], keys: bool) -> DenseFeatures:
        visual = self.visual
        x, (height, width) = self.vit_tokens(images)
        blocks = visual.transformer.resblocks
        batch_first = getattr(visual.transformer, 'batch_first', True)
        collected = []
        for index, block in enumerate(blocks[:-1]):
            x = block(x) if batch_first else block(x.transpose(0, 1)).transpose(0, 1)
            if index in levels:
                collected.append(x)
        last_keys = None
        if keys:
            last = blocks[-1]
            attn = last.attn
            channels = x.shape[-1]
            k = F.linear(last.ln_1(x), attn.in_proj_weight[channels:2 * channels],
                         attn.in_proj_bias[channels:2 * channels])
            last_keys = attn.out_proj(k)[:, 1:]
        if self.last_block is not None:
            x = self.last_block(blocks[-1], x, (height, width))
        else:
            x = blocks[-1](x) if batch_first else blocks[-1](x.transpose(0, 1)).transpose(0, 1)
        if len(blocks) - 1 in levels:
            collected.append(x)
        tokens = x
        x = visual.ln_post(x)
        if visual.proj is not None:
            x = x @ visual.proj
        batch = x.shape[0]
        dense = x[:, 1:].transpose(1, 2).reshape(batch, -1, height, width)
        maps = [level[:, 1:].transpose(1, 2).reshape(batch, -1, height, width) for level in collected]
        return DenseFeatures(dense=dense, levels=maps, tokens=tokens, keys=last_keys)

    def _forward_resnet(self, images: torch.Tensor, levels: Sequence[int], keys: bool) -> DenseFeatures:
        visual = self.visual
        x = images.to(visual.conv1.weight.dtype)
        x = visual.act1(visual.bn1(visual.conv1(x)))
        x = visual.act2(visual.bn2(visual.conv2(x)))
        x = visual.act3(visual.bn3(visual.conv3(x)))
        x = visual.avgpool(x)
        collected = []
        for index in range(4):
            x = getattr(visual, f'layer{index + 1}')(x)
            if index in levels:
                collected.append(x)
        pool = visual.attnpool
        positions = x.permute(0, 2, 3, 1)
        features = pool.c_proj(pool.v_proj(positions))
        last_keys = pool.k_proj(positions).flatten(1, 2) if keys else None
        return DenseFeatures(dense=features.permute(0, 3, 1, 2), levels=collected, keys=last_keys)

    def _forward_convnext(self, images: torch.Tensor, levels: Sequence[int]) -> DenseFeatures:
        trunk = self.visual.trunk
        x = trunk.stem(images)
        collected = []
        for index, stage in enumerate(trunk.stages):
            x = stage(x)
            if index in levels:
                collected.append(x)
        x = trunk.norm_pre(x)
        x = trunk.head.norm(x)
        features = self.visual.head(x.permute(0, 2, 3, 1))
        return DenseFeatures(dense=features.permute(0, 3, 1, 2), levels=collected)
