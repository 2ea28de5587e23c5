"""What ZegCLIP's two losses share: per-class binary masks with classes bound to channels, and their normaliser."""
import torch
from mmengine.dist import all_reduce


def class_mask_targets(labels: torch.Tensor, num_classes: int, ignore_index: int) -> torch.Tensor:
    """(B, C, H, W) float targets of label maps (B, H, W): 1 where the pixel is of class c. Ignored pixels are 0 in
    every channel, i.e. negatives of every class (as the reference builds them)."""
    valid = labels != ignore_index
    targets = torch.zeros(labels.shape[0], num_classes + 1, *labels.shape[1:], device=labels.device)
    targets.scatter_(1, torch.where(valid, labels, num_classes).long().unsqueeze(1), 1.0)
    return targets[:, :num_classes]


def num_masks(present: torch.Tensor) -> float:
    """The reference's normaliser: classes present per image, summed over the batch, averaged over processes (the
    all-reduced sum divided by the world size), at least 1."""
    count = present.sum().float()
    all_reduce(count, op='mean')  # in place; nothing happens in a single process
    return max(float(count), 1.0)
