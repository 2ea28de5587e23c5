import torch
import torch.nn.functional as F
from torch import nn

from clipdense.registry import MODELS


@MODELS.register_module()
class MaskCLIPRefinement(nn.Module):
    """MaskCLIP's prompt denoising and key smoothing (its head's ``refine_output``), on the cosine logits of
    one window at the patch grid, before any resize.

    1. Prompt denoising (``pd_thresh > 0``): a name whose best probability ``softmax(100 · cos)`` over the
       whole window stays below ``pd_thresh`` gets logit -100 everywhere.
    2. Key smoothing (``ks_thresh > 0``): with ``P = softmax(100 · logits)`` and the last attention's keys
       L2-normalised over the *position* axis (as the reference's ``F.normalize(k, p=2)`` on (B, hw, C)
       does), positions whose best probability is below ``ks_thresh`` take ``(k kᵀ) P``; the output is then
       probabilities, which the final temperature-1 softmax keeps in the same order.

    MaskCLIP ships both off; its documented values are ``ks_thresh=1.0``, ``pd_thresh=0.5``.
    """

    def __init__(self, ks_thresh: float = 0.0, pd_thresh: float = 0.0):
        super().__init__()
        self.ks_thresh = ks_thresh
        self.pd_thresh = pd_thresh

    @torch.no_grad()
    def forward(self, logits: torch.Tensor, keys: torch.Tensor) -> torch.Tensor:
        """``logits`` (N, names, h, w), ``keys`` (N, h*w, C) -> refined (N, names, h, w)."""
        batch, names, height, width = logits.shape
        if self.pd_thresh > 0:
            best = F.softmax(logits * 100, dim=1).flatten(2).max(dim=-1).values
            logits = logits.masked_fill((best < self.pd_thresh)[:, :, None, None], -100.0)
        if self.ks_thresh > 0:
            probs = F.softmax(logits * 100, dim=1).flatten(2).transpose(1, 2)  # (N, hw, names)
            keys = F.normalize(keys, p=2, dim=1)
            smoothed = keys @ keys.transpose(1, 2) @ probs
            uncertain = probs.max(dim=-1, keepdim=True).values < self.ks_thresh
            probs = torch.where(uncertain, smoothed, probs)
            logits = probs.transpose(1, 2).reshape(batch, names, height, width)
        return logits
