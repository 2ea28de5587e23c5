import torch
import torch.nn.functional as F
from torch import nn

from clipdense.registry import MODELS

from .class_masks import class_mask_targets, num_masks


@MODELS.register_module()
class MaskFocalLoss(nn.Module):
    """Sigmoid focal loss of per-class mask logits with classes bound to channels (ZegCLIP's ``loss_mask``).

    For every image and every channel c: the mean over all pixels of ``α_t · BCE(x, t) · (1 − p_t)^γ`` against the
    mask of class c; summed over images and channels and divided by the number of (image, class) masks present
    (averaged over processes). Pixels labelled ``ignore_index`` (unseen classes in zero-shot training, padding,
    VOC's background) are negatives for every class, as in the reference, not ignored.
    """

    def __init__(self, alpha: float = 0.25, gamma: float = 2.0, loss_weight: float = 100.0,
                 loss_name: str = 'loss_mask'):
        super().__init__()
        self.alpha, self.gamma, self.loss_weight = alpha, gamma, loss_weight
        self._loss_name = loss_name

    def forward(self, logits: torch.Tensor, labels: torch.Tensor, ignore_index: int = 255, **kwargs) -> torch.Tensor:
        targets = class_mask_targets(labels, logits.shape[1], ignore_index)
        # With z = x for positives and -x for negatives: BCE = softplus(-z) and 1 - p_t = sigmoid(-z).
        signed = logits * (2 * targets - 1)
        alpha_t = (1 - self.alpha) + (2 * self.alpha - 1) * targets
        focal = alpha_t * F.softplus(-signed) * torch.sigmoid(-signed) ** self.gamma
        present = targets.flatten(2).amax(dim=2) > 0
        return self.loss_weight * focal.flatten(2).mean(dim=2).sum() / num_masks(present)

    @property
    def loss_name(self) -> str:
        return self._loss_name
