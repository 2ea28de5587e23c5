"""RegionCLIP's classification loss: softmax cross-entropy, optionally focal-scaled, with a background weight."""
from typing import Optional

import torch
import torch.nn.functional as F
from torch import nn

from clipdense.registry import MODELS


@MODELS.register_module()
class FocalScaledCrossEntropyLoss(nn.Module):
    """RegionCLIP's ``FastRCNNOutputLayers`` classification loss (``fast_rcnn.py``: ``losses``, ``focal_loss``).

    The background is the last column of ``cls_score`` (mmdet's and detectron2's convention).

    * ``gamma`` set (OV-COCO, ``FOCAL_SCALED_LOSS 0.5``): per RoI ``CE · (1 − p_t)^γ`` (``p_t`` not detached),
      background RoIs × ``background_weight``, averaged over all RoIs. One departure: ``1 − p_t`` is clamped at
      1e-12. In fp32 it is either exactly 0 (a saturated softmax: a logit margin above ~17, i.e. a cosine margin
      of 0.17 at RegionCLIP's temperature 0.01) or at least 2^-24, so values are unchanged, but at 0 the
      reference's gradient is ``0 · ∞`` = NaN for the whole batch (γ < 1), where this one takes the limit, ~0.
    * ``gamma=None`` (OV-LVIS): PyTorch's class-weighted cross-entropy (background class weight
      ``background_weight``), whose mean divides by the sum of the RoIs' weights, not their number.

    mmdet's label weights (all ones with ``pos_weight=-1``) multiply the per-RoI losses; ``avg_factor`` is ignored
    because the reference's normaliser is fixed as above.
    """

    def __init__(self, gamma: Optional[float] = 0.5, background_weight: float = 0.2, loss_weight: float = 1.0):
        super().__init__()
        self.gamma, self.background_weight, self.loss_weight = gamma, background_weight, loss_weight

    def forward(self, cls_score: torch.Tensor, labels: torch.Tensor, weight: Optional[torch.Tensor] = None,
                avg_factor: Optional[float] = None, reduction_override: Optional[str] = None, **kwargs) -> torch.Tensor:
        if labels.numel() == 0:
            return cls_score.sum() * 0.0  # keeps the graph connected
        labels = labels.long()
        background = cls_score.shape[1] - 1
        roi_weights = torch.where(labels == background, cls_score.new_tensor(self.background_weight),
                                  cls_score.new_tensor(1.0))
        if weight is not None:
            roi_weights = roi_weights * weight.to(cls_score.dtype)
        loss = F.cross_entropy(cls_score, labels, reduction='none')
        if self.gamma is None:
            return self.loss_weight * (loss * roi_weights).sum() / roi_weights.sum().clamp_min(1e-12)
        p_t = cls_score.softmax(dim=-1).gather(1, labels[:, None])[:, 0]
        loss = loss * (1 - p_t).clamp_min(1e-12) ** self.gamma * roi_weights
        return self.loss_weight * loss.mean()
