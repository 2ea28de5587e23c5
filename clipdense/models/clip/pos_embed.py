"""Resizing a CLIP positional-embedding table (class position first, then a square grid) to another grid."""
import math
from typing import Tuple

import torch
import torch.nn.functional as F

POS_INTERPOLATIONS = ('exact', 'offset', 'bilinear')


def interpolate_pos_embed(pos_embed: torch.Tensor, grid: Tuple[int, int], mode: str = 'exact') -> torch.Tensor:
    """Resize a positional embedding ``(1 + n, C)`` (class position first) to a ``grid`` of patches.

    ``mode='exact'`` (MaskCLIP): bicubic to exactly ``grid`` (align_corners False).
    ``mode='offset'`` (SCLIP, ClearCLIP, NACLIP): bicubic with ``scale_factor=((h + 0.1) / side, (w + 0.1) / side)``
    (the +0.1 keeps floor() from dropping a row). The scale factor, not the output size, enters the sampling
    coordinates, so the two modes give different values.
    ``mode='bilinear'`` (ZegCLIP): bilinear to exactly ``grid`` (align_corners False).
    All modes skip the interpolation when the token count already matches, as the references do (a non-square
    grid with the table's token count reuses the table unchanged).
    """
    if mode not in POS_INTERPOLATIONS:
        raise ValueError(f'pos_interpolation must be one of {POS_INTERPOLATIONS}, got {mode!r}')
    height, width = grid
    num_patches = pos_embed.shape[0] - 1
    side = math.isqrt(num_patches)
    if side * side != num_patches:
        raise ValueError(f'positional embedding of {num_patches} patches is not a square grid')
    if num_patches == height * width:
        return pos_embed
    cls_pos, patch_pos = pos_embed[:1], pos_embed[1:]
    patch_pos = patch_pos.reshape(1, side, side, -1).permute(0, 3, 1, 2)
    if mode == 'offset':
        patch_pos = F.interpolate(patch_pos, scale_factor=((height + 0.1) / side, (width + 0.1) / side),
                                  mode='bicubic', align_corners=False, recompute_scale_factor=False)
        assert patch_pos.shape[-2:] == (height, width), (patch_pos.shape, grid)
    else:
        patch_pos = F.interpolate(patch_pos, size=(height, width), mode='bicubic' if mode == 'exact' else 'bilinear',
                                  align_corners=False)
    patch_pos = patch_pos.permute(0, 2, 3, 1).reshape(height * width, -1)
    return torch.cat([cls_pos, patch_pos], dim=0)
