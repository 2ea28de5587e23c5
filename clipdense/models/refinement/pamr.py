from typing import Sequence

import torch
from torch import nn

from clipdense.ops import pamr_propagate
from clipdense.ops.reference import pamr_neighbours
from clipdense.registry import MODELS


def _neighbours(x: torch.Tensor, dilations: Sequence[int], with_centre: bool) -> torch.Tensor:
    return torch.stack(list(pamr_neighbours(x, dilations, with_centre)), dim=2)


@MODELS.register_module()
class PAMR(nn.Module):
    """Pixel-adaptive mask refinement (Araslanov & Roth, 2020), as SCLIP and NACLIP run it.

    Affinities between each pixel and its 8 neighbours at every dilation come from the guide image:
    ``mean_c(-|I_c(p) - I_c(n)| / (1e-8 + 0.1 σ_c))`` with ``σ_c`` the unbiased local standard deviation of
    the centre and its neighbours (centre counted once per dilation), normalised by a softmax over all
    neighbours. Each of ``steps`` iterations replaces a pixel's scores by the affinity-weighted mean of its
    neighbours' scores (the centre itself excluded): ``clipdense.ops.pamr_propagate``, compiled.

    Args:
        steps: iterations (0 leaves the scores unchanged).
        dilations: neighbourhood dilations in pixels.
    """

    def __init__(self, steps: int = 10, dilations: Sequence[int] = (8, 16)):
        super().__init__()
        self.steps = steps
        self.dilations = tuple(dilations)

    def affinity(self, guide: torch.Tensor) -> torch.Tensor:
        """(B, 1, n, H, W) softmax weights over the ``n = 8 · len(dilations)`` neighbours."""
        with_centre = _neighbours(guide, self.dilations, with_centre=True)
        sigma = with_centre.std(dim=2, keepdim=True, unbiased=True)
        neighbours = _neighbours(guide, self.dilations, with_centre=False)
        logits = -(guide.unsqueeze(2) - neighbours).abs() / (1e-8 + 0.1 * sigma)
        return logits.mean(dim=1, keepdim=True).softmax(dim=2)

    @torch.no_grad()
    def forward(self, guide: torch.Tensor, scores: torch.Tensor) -> torch.Tensor:
        """Refine ``scores`` (B, Q, H, W) with ``guide`` (B, 3, H, W), both at the same size."""
        if self.steps == 0:
            return scores
        if guide.shape[-2:] != scores.shape[-2:]:
            raise ValueError(f'guide {tuple(guide.shape)} and scores {tuple(scores.shape)} differ in size')
        weights = self.affinity(guide.to(scores.dtype))
        return pamr_propagate(scores, weights[:, 0], self.dilations, self.steps)
