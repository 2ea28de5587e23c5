"""An open_clip ``ModifiedResNet`` vision tower run in stages: the stem, ``layer1..4`` from any layer on any map
(RegionCLIP runs ``layer4`` on RoI features of ``layer3``), and the attention pool on any map (its positional
embedding resized to the map). ``stem`` → ``run_layers`` → ``attention_pool`` composes to ``encode_image``."""
from typing import Dict, Sequence, Tuple

import torch
import torch.nn.functional as F
from torch import nn

from .pos_embed import interpolate_pos_embed
from .staged_vit import require_input_size


class StagedModifiedResNet(nn.Module):
    """Stages of an open_clip ``ModifiedResNet`` (``clip_model.visual``). Layers are numbered 1–4 as in CLIP."""

    kind = 'resnet'
    stride = 32

    def __init__(self, visual: nn.Module):
        super().__init__()
        self.visual = visual

    @property
    def patch_size(self) -> int:
        """Input pixels per position of ``layer4``'s map."""
        return self.stride

    @property
    def embed_dim(self) -> int:
        return self.visual.attnpool.c_proj.out_features

    @property
    def layer_channels(self) -> Tuple[int, ...]:
        return tuple(self.layer(index)[-1].conv3.out_channels for index in range(1, 5))

    def layer(self, index: int) -> nn.Sequential:
        return getattr(self.visual, f'layer{index}')

    def stem(self, images: torch.Tensor) -> torch.Tensor:
        """The three stem convolutions and the average pool (stride 4)."""
        require_input_size(images, self.stride, "the ResNet CLIP's stride", 'resize the image first.')
        return self.visual.stem(images.to(self.visual.conv1.weight.dtype))

    def run_layers(self, x: torch.Tensor, start: int = 1, stop: int = 4,
                   keep: Sequence[int] = ()) -> Tuple[torch.Tensor, Dict[int, torch.Tensor]]:
        """``layer{start} .. layer{stop}`` (inclusive) on ``x``; returns the last map and ``{index: map}`` for
        ``keep``."""
        if not 1 <= start <= stop <= 4:
            raise ValueError(f'layers {start}..{stop} out of range 1..4')
        states = {}
        for index in range(start, stop + 1):
            x = self.layer(index)(x)
            if index in keep:
                states[index] = x
        return x, states

    def attention_pool(self, x: torch.Tensor) -> torch.Tensor:
        """CLIP's attention pool on maps (N, C, h, w) → (N, embed_dim): the output at the mean position.

        Every position is queried, as open_clip does, so the result is bit-identical to its pool. The pool's
        positional embedding (trained for the pretraining grid) is resized bicubically when ``h*w`` differs, as
        read-outs of RoI maps of another size need."""
        pool = self.visual.attnpool
        height, width = x.shape[-2:]
        x = x.flatten(2).permute(2, 0, 1)  # (h*w, N, C), sequence first as the pool runs it
        x = torch.cat([x.mean(dim=0, keepdim=True), x], dim=0)
        x = x + interpolate_pos_embed(pool.positional_embedding, (height, width), 'exact')[:, None].to(x.dtype)
        x, _ = F.multi_head_attention_forward(
            query=x, key=x, value=x, embed_dim_to_check=x.shape[-1], num_heads=pool.num_heads,
            q_proj_weight=pool.q_proj.weight, k_proj_weight=pool.k_proj.weight, v_proj_weight=pool.v_proj.weight,
            in_proj_weight=None, in_proj_bias=torch.cat([pool.q_proj.bias, pool.k_proj.bias, pool.v_proj.bias]),
            bias_k=None, bias_v=None, add_zero_attn=False, dropout_p=0.0, out_proj_weight=pool.c_proj.weight,
            out_proj_bias=pool.c_proj.bias, use_separate_proj_weight=True, training=self.training,
            need_weights=False)
        return x[0]

    def value_embedding(self, x: torch.Tensor) -> torch.Tensor:
        """Every position of a map (N, C, h, w) through the pool's value path, ``c_proj(v_proj(x))`` → (N, D, h, w):
        MaskCLIP's dense read-out."""
        pool = self.visual.attnpool
        return pool.c_proj(pool.v_proj(x.permute(0, 2, 3, 1))).permute(0, 3, 1, 2)

    def key_embedding(self, x: torch.Tensor) -> torch.Tensor:
        """The pool's keys per position (N, h*w, C) (MaskCLIP's key smoothing)."""
        return self.visual.attnpool.k_proj(x.permute(0, 2, 3, 1)).flatten(1, 2)

    def forward(self, images: torch.Tensor) -> torch.Tensor:
        """CLIP's image embedding, composed from the stages (equal to ``encode_image``)."""
        x, _ = self.run_layers(self.stem(images))
        return self.attention_pool(x)
