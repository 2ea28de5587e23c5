"""An open_clip ViT vision tower run in stages, as open_clip's ``forward_intermediates`` but open in the middle.

``embed`` → ``run_blocks(start, stop)`` → ``project`` composes to ``encode_image``; methods insert tokens
(prompts, queries) between the stages, pass an attention bias, replace tokens before a block, or read any
intermediate state (class token included). The tower's weights are used as they are; nothing here is
trainable by itself.
"""
from typing import Callable, Dict, Optional, Sequence, Tuple

import torch
import torch.nn.functional as F
from open_clip.transformer import ResidualAttentionBlock
from torch import nn
from torch.utils.checkpoint import checkpoint
from torch.utils.weak import WeakIdKeyDictionary

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


def split_heads(x: torch.Tensor, num_heads: int) -> torch.Tensor:
    batch, length, width = x.shape
    return x.view(batch, length, num_heads, width // num_heads).transpose(1, 2)


def merge_heads(x: torch.Tensor) -> torch.Tensor:
    batch, heads, length, head_dim = x.shape
    return x.transpose(1, 2).reshape(batch, length, heads * head_dim)


def project_qkv(block: nn.Module, y: torch.Tensor, linear: Callable = F.linear
                ) -> Tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    """q, k, v (B, L, C) of a block's attention for normalised tokens ``y`` (``linear(y, weight, bias)`` applies
    the in-projection)."""
    attn = block.attn
    return linear(y, attn.in_proj_weight, attn.in_proj_bias).chunk(3, dim=-1)


def run_block(block: nn.Module, x: torch.Tensor, attn_mask: Optional[torch.Tensor] = None) -> torch.Tensor:
    """``block(x, attn_mask=attn_mask)``; under a bf16/fp16 autocast, open_clip's plain blocks take their attention
    through ``scaled_dot_product_attention`` instead of ``nn.MultiheadAttention``, with their frozen weights cast
    once (``lowered_copy``). On ViT-B/16 on a CPU with AMX (``tools/analysis_tools/benchmark_trainfree.py``'s
    setting) SDPA runs the 12 blocks 1.3× (6 × 197 tokens) to 1.9× (1377 tokens) faster at the same error against
    fp32 (0.29 % relative, either way). Under ``torch.compile`` the blocks take the same form at any precision: the
    compiler reorders fp32 sums anyway, and it turns ``nn.MultiheadAttention`` into batched matmuls 7× slower than
    eager on SCLIP's windows (CPU profile), which made the compiled tower slower than the eager one. Eager fp32
    keeps open_clip's own forward: SDPA's sums differ from it in the last bits, and fp32 is the references' bits."""
    device = x.device.type
    dtype = torch.get_autocast_dtype(device) if torch.is_autocast_enabled(device) else None
    lowered = dtype in (torch.bfloat16, torch.float16)
    if not ((lowered or torch.compiler.is_compiling()) and plain_attention_block(block)):
        return block(x, attn_mask=attn_mask)

    def lowered_linear(layer_input: torch.Tensor, weight: torch.Tensor, bias: torch.Tensor) -> torch.Tensor:
        return F.linear(layer_input, lowered_copy(weight, dtype), lowered_copy(bias, dtype))

    linear = lowered_linear if lowered else F.linear
    attn, mlp = block.attn, block.mlp
    query, key, value = (split_heads(t, attn.num_heads) for t in project_qkv(block, block.ln_1(x), linear))
    if attn_mask is not None and attn_mask.dim() == 3:  # (B * heads, L, L) → (B, heads, L, L)
        attn_mask = attn_mask.view(x.shape[0], attn.num_heads, *attn_mask.shape[1:])
    mixed = F.scaled_dot_product_attention(query, key, value, attn_mask=attn_mask,
                                           dropout_p=attn.dropout if attn.training else 0.0)
    x = x + block.ls_1(linear(merge_heads(mixed), attn.out_proj.weight, attn.out_proj.bias))
    hidden = mlp.gelu(linear(block.ln_2(x), mlp.c_fc.weight, mlp.c_fc.bias))
    return x + block.ls_2(linear(hidden, mlp.c_proj.weight, mlp.c_proj.bias))


def plain_attention_block(block: nn.Module) -> bool:
    """Whether ``block`` is open_clip's ``ResidualAttentionBlock`` as written (self-attention, batch-first, one
    in-projection with biases, no extra key/value biases, a c_fc → gelu → c_proj MLP), the block ``run_block`` can
    rewrite."""
    attn, mlp = getattr(block, 'attn', None), getattr(block, 'mlp', None)
    return (type(block).forward is ResidualAttentionBlock.forward and isinstance(attn, nn.MultiheadAttention)
            and attn.batch_first and attn._qkv_same_embed_dim and attn.in_proj_bias is not None
            and attn.bias_k is None and not attn.add_zero_attn and not hasattr(block, 'ln_1_kv')
            and isinstance(mlp, nn.Sequential) and list(mlp._modules) == ['c_fc', 'gelu', 'c_proj']
            and all(isinstance(layer, nn.Linear) and layer.bias is not None for layer in (mlp.c_fc, mlp.c_proj)))


_lowered_copies = WeakIdKeyDictionary()


def lowered_copy(param: torch.Tensor, dtype: torch.dtype) -> torch.Tensor:
    """``param`` in ``dtype``, cast once and kept while the parameter is unchanged (its version, storage and
    device). autocast would cast a frozen weight again on every call (its cache keeps only trainable leaves, and
    only within one autocast region): ~5 % of a bf16 ViT-B/16 forward on a CPU. The values are autocast's cast.
    A parameter being trained is handed back as it is, for autocast to cast (and its gradient to flow)."""
    if param.requires_grad and torch.is_grad_enabled():
        return param
    key = (dtype, param._version, param.data_ptr(), param.device)
    cached = _lowered_copies.get(param)
    if cached is None or cached[0] != key:
        cached = (key, param.detach().to(dtype))
        _lowered_copies[param] = cached
    return cached[1]


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
                x = checkpoint(run_block, block, x, attn_mask, use_reentrant=False)
            else:
                x = run_block(block, x, attn_mask)
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
