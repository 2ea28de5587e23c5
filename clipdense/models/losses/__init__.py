from .focal_scaled_cross_entropy import FocalScaledCrossEntropyLoss
from .mask_dice_loss import MaskDiceLoss
from .mask_focal_loss import MaskFocalLoss

__all__ = ['FocalScaledCrossEntropyLoss', 'MaskFocalLoss', 'MaskDiceLoss']
