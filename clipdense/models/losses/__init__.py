from .mask_dice_loss import MaskDiceLoss
from .mask_focal_loss import MaskFocalLoss

__all__ = ['MaskFocalLoss', 'MaskDiceLoss']
