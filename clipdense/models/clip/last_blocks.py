"""Variants of a CLIP ViT's last residual block: the only per-method code of training-free segmentation.

Each variant is called as ``variant(block, x, grid)`` with ``block`` the original open_clip
``ResidualAttentionBlock`` (its weights are used as they are), ``x`` the (B, 1 + h*w, C) tokens and
``grid = (h, w)``. Attention maps of the form ``softmax(a @ b^T * scale + bias) @ v`` for pairs of q/k/v
go through one dense-attention function, chosen once (compiled op or PyTorch reference, logged).
``clipdense.models`` registers every class of ``LAST_BLOCKS`` so configs name them (``dict(type='SCLIPLastBlock')``).
"""
from typing import Optional, Sequence, Tuple

import torch
from mmengine.logging import print_log
from torch import nn

from .staged_vit import merge_heads, project_qkv, run_block, split_heads


class LastBlock(nn.Module):
    """Common pieces of the variants: head split and the dense-attention function, chosen once per device
    type by ``clipdense.ops.select_dense_attention``; the choice is logged once per process."""

    _logged_choices = set()

    def __init__(self):
        super().__init__()
        self.attention_by_device = {}

    def dense_attention(self, q, k, v, pairs, scale, bias=None):
        if q.device.type not in self.attention_by_device:
            from clipdense.ops import select_dense_attention
            choice = select_dense_attention(q.device)
            if choice.reason not in LastBlock._logged_choices:
                LastBlock._logged_choices.add(choice.reason)
                print_log(choice.reason, logger='current')
            self.attention_by_device[q.device.type] = choice.function
        return self.attention_by_device[q.device.type](q, k, v, pairs, scale=scale, bias=bias)

    @staticmethod
    def num_heads(block: nn.Module) -> int:
        return block.attn.num_heads

    def attend(self, block: nn.Module, y: torch.Tensor, pairs: Sequence[str],
               bias: Optional[torch.Tensor] = None) -> torch.Tensor:
        """``out_proj`` of the summed attention ``sum_pairs softmax(a b^T * d^-0.5 + bias) v`` over heads."""
        heads = self.num_heads(block)
        q, k, v = (split_heads(t, heads) for t in project_qkv(block, y))
        scale = q.shape[-1] ** -0.5
        out = self.dense_attention(q, k, v, pairs=tuple(pairs), scale=scale, bias=bias)
        return block.attn.out_proj(merge_heads(out))

    def forward(self, block: nn.Module, x: torch.Tensor, grid: Tuple[int, int]) -> torch.Tensor:
        raise NotImplementedError


class VanillaLastBlock(LastBlock):
    """CLIP's own block (q·kᵀ attention, residual, FFN): the baseline the methods depart from."""

    def forward(self, block, x, grid):
        return run_block(block, x)


class MaskCLIPLastBlock(LastBlock):
    """MaskCLIP: the value path replaces attention (each token attends only to itself); residual and FFN
    are kept: ``x = x + out_proj(v(ln_1(x))); x = x + mlp(ln_2(x))``."""

    def forward(self, block, x, grid):
        _, _, v = project_qkv(block, block.ln_1(x))
        x = x + block.ls_1(block.attn.out_proj(v))
        return x + block.ls_2(block.mlp(block.ln_2(x)))


class SCLIPLastBlock(LastBlock):
    """SCLIP's correlative self-attention: ``(softmax(q qᵀ s) + softmax(k kᵀ s)) v`` (summed, not halved),
    with CLIP's residual and FFN kept."""

    def forward(self, block, x, grid):
        x = x + block.ls_1(self.attend(block, block.ln_1(x), ('qq', 'kk')))
        return x + block.ls_2(block.mlp(block.ln_2(x)))


class ClearCLIPLastBlock(LastBlock):
    """ClearCLIP: ``out_proj(softmax(q qᵀ s) v)`` alone; residual and FFN are dropped (and not computed)."""

    def forward(self, block, x, grid):
        return self.attend(block, block.ln_1(x), ('qq',))


def gaussian_neighbourhood_bias(grid: Tuple[int, int], std: float, device=None,
                                dtype=torch.float32) -> torch.Tensor:
    """(1 + h*w, 1 + h*w) additive attention bias: ``exp(-d² / (2 std²))`` between patches at squared grid
    distance ``d²``; the class token row and column get 0."""
    height, width = grid
    ys, xs = torch.meshgrid(torch.arange(height, device=device, dtype=dtype),
                            torch.arange(width, device=device, dtype=dtype), indexing='ij')
    coords = torch.stack([ys.flatten(), xs.flatten()], dim=1)
    squared = torch.cdist(coords, coords).square()
    bias = torch.zeros(height * width + 1, height * width + 1, device=device, dtype=dtype)
    bias[1:, 1:] = torch.exp(-squared / (2 * std ** 2))
    return bias


class NACLIPLastBlock(LastBlock):
    """NACLIP: ``out_proj(softmax(k kᵀ s + G) v)`` with ``G`` a Gaussian neighbourhood bias on the patch
    grid; no residual, no FFN."""

    def __init__(self, gaussian_std: float = 5.0):
        super().__init__()
        self.gaussian_std = gaussian_std

    def forward(self, block, x, grid):
        bias = gaussian_neighbourhood_bias(grid, self.gaussian_std, device=x.device, dtype=x.dtype)
        return self.attend(block, block.ln_1(x), ('kk',), bias=bias)


LAST_BLOCKS = (VanillaLastBlock, MaskCLIPLastBlock, SCLIPLastBlock, ClearCLIPLastBlock, NACLIPLastBlock)
