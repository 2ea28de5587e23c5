"""A frozen CLIP ViT tuned with deep visual prompts (VPT-deep), as ZegCLIP trains it."""
import math
from typing import Tuple

import torch
import torch.nn.functional as F
from mmengine.model import BaseModule
from torch import nn

from clipdense.models.clip import StagedViT, insert_tokens
from clipdense.registry import MODELS


@MODELS.register_module()
class DeepPromptCLIPViT(BaseModule):
    """CLIP's ViT frozen, with ``num_prompts`` learned tokens inserted after the class token and replaced by fresh
    ones before every later block (ZegCLIP, ZiqinZhou66/ZegCLIP ``VPTCLIPVisionTransformer``).

    Forward, as the reference computes it:

    1. patch tokens + positional embedding (resized once at build to the ``input_size`` grid, ``pos_interpolation``
       for other grids); the class position's input is ``class_embedding`` twice when ``doubled_class_token``
       (the reference adds it once as the token and once to the positional row; its released checkpoints were
       trained so), then ``ln_pre``;
    2. prompts ``dropout(proj(P_0))`` inserted after the class token, without positional embedding; before block
       ``i >= 1`` they are replaced by ``dropout(proj(P_i))`` (one shared projection and dropout);
    3. ``prompt_norm`` (LayerNorm, eps 1e-6) on all tokens, then CLIP's ``ln_post`` and ``proj``.

    Returns ``(patches, cls)``: the patch embeddings (B, D, h, w) and the class-token embedding (B, D), each
    L2-normalised. Only the prompt parameters train; the reference configures drop-path 0.1 but never applies it,
    so none is applied here. CLIP's blocks run in eval mode; open_clip's gradient checkpointing
    (``visual.set_grad_checkpointing()``) applies to them.

    Args:
        visual: the open_clip ViT (passed in by the segmentor from ``model.clip``).
        num_prompts: prompt tokens per block (ZegCLIP: 10 for VOC, 100 for COCO-Stuff).
        prompt_dropout: dropout on the projected prompts.
        input_size: training crop size; the positional embedding is resized to its grid once.
        pos_interpolation: ``'bilinear'`` (ZegCLIP) or another mode of ``interpolate_pos_embed``.
        doubled_class_token: ZegCLIP's class-token quirk (see 1.).
    """

    def __init__(self, visual: nn.Module, num_prompts: int = 10, prompt_dropout: float = 0.1, input_size: int = 512,
                 pos_interpolation: str = 'bilinear', doubled_class_token: bool = True, init_cfg=None):
        super().__init__(init_cfg=init_cfg)
        self.tower = StagedViT(visual, pos_interpolation)
        visual.requires_grad_(False)
        patch, width = self.tower.patch_size, self.tower.width
        self.tower.resize_positional_embedding_((input_size // patch, input_size // patch), pos_interpolation)
        self.doubled_class_token = doubled_class_token
        self.num_prompts = num_prompts
        # The reference's initialisation: uniform(-v, v) with VPT's v = sqrt(6 / (3 * patch^2 + width)).
        bound = math.sqrt(6.0 / (3 * patch * patch + width))
        self.prompt_embeddings = nn.Parameter(torch.empty(1, num_prompts, width).uniform_(-bound, bound))
        self.deep_prompt_embeddings = nn.Parameter(
            torch.empty(self.tower.num_blocks - 1, num_prompts, width).uniform_(-bound, bound))
        self.prompt_proj = nn.Linear(width, width)
        nn.init.kaiming_normal_(self.prompt_proj.weight, a=0, mode='fan_out')
        self.prompt_norm = nn.LayerNorm(width, eps=1e-6)
        self.prompt_dropout = nn.Dropout(prompt_dropout)

    def init_weights(self):
        """CLIP's weights come from ``build_clip`` and the prompts are initialised at construction, as the
        reference does; mmengine's default initialisers must not touch either."""

    def train(self, mode: bool = True):
        super().train(mode)
        self.tower.eval()
        return self

    def prompts(self, index: int) -> torch.Tensor:
        """The projected prompts entering block ``index`` (1, T, width)."""
        raw = self.prompt_embeddings if index == 0 else self.deep_prompt_embeddings[index - 1:index]
        return self.prompt_dropout(self.prompt_proj(raw))

    def forward(self, images: torch.Tensor) -> Tuple[torch.Tensor, torch.Tensor]:
        tower = self.tower
        class_token = tower.visual.class_embedding
        if self.doubled_class_token:
            class_token = class_token + class_token
        with torch.no_grad():  # the frozen embedding needs no graph
            x, (height, width) = tower.embed(images, class_token=class_token)
        x = insert_tokens(x, self.prompts(0), 1)
        end = 1 + self.num_prompts

        def replace_prompts(index: int, tokens: torch.Tensor) -> torch.Tensor:
            if index == 0:
                return tokens
            prompts = self.prompts(index).expand(tokens.shape[0], -1, -1)
            return torch.cat([tokens[:, :1], prompts.to(tokens.dtype), tokens[:, end:]], dim=1)

        x, _ = tower.run_blocks(x, before_block=replace_prompts)
        x = tower.project(self.prompt_norm(x))
        patches = x[:, end:].transpose(1, 2).reshape(x.shape[0], -1, height, width)
        return F.normalize(patches, dim=1), F.normalize(x[:, 0], dim=-1)
