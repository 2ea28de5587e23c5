"""An open_clip ViT vision tower run in stages, as open_clip's ``forward_intermediates`` but open in the middle.

``embed`` → ``run_blocks(start, stop)`` → ``project`` composes to ``encode_image``; methods insert tokens
(prompts, queries) between the stages, pass an attention bias, replace tokens before a block, or read any
intermediate state (class token included). The tower's weights are used as they are; nothing here is
trainable by itself.
"""
from typing import Callable, Dict, Optional, Sequence, Tuple

import torch
from torch import nn
from torch.utils.checkpoint import checkpoint

from clipdense.utils.errors import UserError

from .pos_embed import POS_INTERPOLATIONS, interpolate_pos_embed


class ImageTooSmallError(UserError, ValueError):
    """An input smaller than the CLIP's patch (or stride) has no feature position."""


def require_input_size(images: torch.Tensor, minimum: int, unit: str, advice: str) -> None:
    """``ImageTooSmallError`` when a side of ``images`` is shorter than ``minimum`` pixels (the tower's ``unit``)."""
    height, width = images.shape[-2:]
    if height < minimum or width < minimum:
        raise ImageTooSmallError(f'input {height}x{width} is smaller than {unit} ({minimum} px): {advice}')


def insert_tokens(x: torch.Tensor, tokens: torch.Tensor, index: int) -> torch.Tensor:
    """``tokens`` (B, n, C), or (1, n, C) / (n, C) shared by the batch, placed before position ``index`` of ``x``
    (B, L, C)."""
    tokens = tokens.expand(x.shape[0], -1, -1)
    return torch.cat([x[:, :index], tokens.to(x.dtype), x[:, index:]], dim=1)


class StagedViT(nn.Module):
    """Stages of an open_clip ``VisionTransformer`` (``clip_model.visual``).

    Token sequences are batch-first (B, L, width) with the class token at position 0 as ``embed`` returns them;
    ``run_blocks`` accepts any sequence. Patch dropout, attentional pooling and the other options open_clip adds
    for training are not applied: dense prediction needs every patch token.

    Args:
        visual: the open_clip ViT.
        pos_interpolation: default mode of ``positional_embedding`` (see ``interpolate_pos_embed``).
    """

    kind = 'vit'

    def __init__(self, visual: nn.Module, pos_interpolation: str = 'exact'):
        super().__init__()
        if pos_interpolation not in POS_INTERPOLATIONS:
            raise ValueError(f'pos_interpolation must be one of {POS_INTERPOLATIONS}, got {pos_interpolation!r}')
        if getattr(visual, 'attn_pool', None) is not None:
            raise ValueError('ViTs with an attentional pooler (CoCa) have no per-patch output tokens to stage.')
        self.visual = visual
        self.pos_interpolation = pos_interpolation

    # ---- shape ------------------------------------------------------------------------------------------
    @property
    def blocks(self) -> nn.ModuleList:
        return self.visual.transformer.resblocks

    @property
    def num_blocks(self) -> int:
        return len(self.blocks)

    @property
    def width(self) -> int:
        return self.visual.transformer.width

    @property
    def num_heads(self) -> int:
        return self.blocks[0].attn.num_heads

    @property
    def patch_size(self) -> int:
        return self.visual.patch_size[0]

    @property
    def embed_dim(self) -> int:
        return self.visual.proj.shape[1]

    def patch_grid(self, images: torch.Tensor) -> Tuple[int, int]:
        patch = self.patch_size
        require_input_size(images, patch, 'the CLIP patch',
                           "resize the image first (the configs' Resize does) or pad windows to the patch "
                           "(window_padding='center' or 'corner').")
        return images.shape[-2] // patch, images.shape[-1] // patch

    # ---- stages -----------------------------------------------------------------------------------------
    def positional_embedding(self, grid: Tuple[int, int], mode: Optional[str] = None) -> torch.Tensor:
        """The (1 + h*w, width) table for a patch ``grid``, resized with ``mode`` (default: the tower's)."""
        return interpolate_pos_embed(self.visual.positional_embedding, grid, mode or self.pos_interpolation)

    def embed(self, images: torch.Tensor, mode: Optional[str] = None,
              class_token: Optional[torch.Tensor] = None) -> Tuple[torch.Tensor, Tuple[int, int]]:
        """Input tokens of the first block (class token + patches, positional embedding added, ``ln_pre``) and the
        patch grid. ``class_token`` replaces CLIP's class embedding as the class position's input (before the
        positional embedding and ``ln_pre``)."""
        visual = self.visual
        grid = self.patch_grid(images)
        # The token stream stays in the weights' format: under a bf16/fp16 autocast only the matrix products are
        # lowered (a lowered stream also sends nn.MultiheadAttention's packed projection down a slow CPU path).
        x = visual.conv1(images).flatten(2).transpose(1, 2).to(visual.conv1.weight.dtype)
        cls = visual.class_embedding if class_token is None else class_token
        x = torch.cat([cls.to(x.dtype).expand(x.shape[0], 1, -1), x], dim=1)
        x = x + self.positional_embedding(grid, mode).to(x.dtype)
        return visual.ln_pre(x), grid

    def run_blocks(self, x: torch.Tensor, start: int = 0, stop: Optional[int] = None,
                   attn_mask: Optional[torch.Tensor] = None, keep: Sequence[int] = (),
                   before_block: Optional[Callable[[int, torch.Tensor], torch.Tensor]] = None
                   ) -> Tuple[torch.Tensor, Dict[int, torch.Tensor]]:
        """Blocks ``start .. stop - 1`` on any token sequence ``x`` (B, L, width).

        Args:
            attn_mask: additive attention bias in the form open_clip's blocks take: (L, L), or (B * heads, L, L)
                for a bias per image and head (``-inf`` or a large negative value blocks a pair).
            keep: block indices whose output states (all tokens) are returned.
            before_block: ``before_block(index, x) -> x`` runs before each block (e.g. deep prompts replacing
                tokens).

        Returns:
            The last state and ``{index: state}`` for ``keep``. Gradient checkpointing is applied when open_clip's
            flag is set (``visual.set_grad_checkpointing()``) and gradients are being recorded.
        """
        stop = self.num_blocks if stop is None else stop
        if not 0 <= start <= stop <= self.num_blocks:
            raise ValueError(f'blocks {start}..{stop} out of range for a ViT of {self.num_blocks} blocks')
        checkpointed = self.visual.transformer.grad_checkpointing and torch.is_grad_enabled()
        states = {}
        for index in range(start, stop):
            if before_block is not None:
                x = before_block(index, x)
            block = self.blocks[index]
            if checkpointed:
                x = checkpoint(block, x, attn_mask=attn_mask, use_reentrant=False)
            else:
                x = block(x, attn_mask=attn_mask)
            if index in keep:
                states[index] = x
        return x, states

    def project(self, x: torch.Tensor) -> torch.Tensor:
        """``ln_post`` and ``proj`` on any tokens (..., width) → (..., embed_dim), CLIP's joint space."""
        x = self.visual.ln_post(x)
        return x @ self.visual.proj if self.visual.proj is not None else x

    def forward(self, images: torch.Tensor) -> torch.Tensor:
        """CLIP's image embedding, composed from the stages (equal to ``encode_image``)."""
        x, _ = self.embed(images)
        x, _ = self.run_blocks(x)
        return self.project(x[:, 0])

    @torch.no_grad()
    def resize_positional_embedding_(self, grid: Tuple[int, int], mode: str = 'bilinear') -> None:
        """Replace the tower's positional-embedding table by its resize to ``grid``, once (ZegCLIP resizes at
        load, so its checkpoints hold the resized table)."""
        table = self.visual.positional_embedding
        resized = interpolate_pos_embed(table.data, grid, mode).clone()
        self.visual.positional_embedding = nn.Parameter(resized, requires_grad=table.requires_grad)
