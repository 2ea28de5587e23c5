import torch
from torch import nn

from clipdense.registry import MODELS

from .class_masks import class_mask_targets, num_masks


@MODELS.register_module()
class MaskDiceLoss(nn.Module):
    """Dice loss of per-class mask logits with classes bound to channels (ZegCLIP's ``loss_dice``).

    For every (image, class) pair whose class is present: ``1 − (2 Σ p·t + 1) / (Σ p + Σ t + 1)`` over all pixels
    (ignored ones included, with t = 0); summed and divided by the number of such pairs (averaged over processes).
    """

    def __init__(self, loss_weight: float = 1.0, loss_name: str = 'loss_dice'):
        super().__init__()
        self.loss_weight = loss_weight
        self._loss_name = loss_name

    def forward(self, logits: torch.Tensor, labels: torch.Tensor, ignore_index: int = 255, **kwargs) -> torch.Tensor:
        targets = class_mask_targets(labels, logits.shape[1], ignore_index).flatten(2)
        probs = logits.sigmoid().flatten(2)
        present = targets.amax(dim=2) > 0
        dice = 1 - (2 * (probs * targets).sum(2) + 1) / (probs.sum(2) + targets.sum(2) + 1)
        return self.loss_weight * (dice * present).sum() / num_masks(present)

    @property
    def loss_name(self) -> str:
        return self._loss_name
