"""detectron2's ``MaskRCNNConvUpsampleHead`` on mmdet's ``FCNMaskHead``."""
from mmdet.models.roi_heads.mask_heads import FCNMaskHead
from torch import nn

from clipdense.registry import MODELS


@MODELS.register_module()
class Detectron2MaskHead(FCNMaskHead):
    """detectron2's ``MaskRCNNConvUpsampleHead`` (``roi_heads/mask_head.py``): ``num_convs`` 3×3 conv + ReLU, a 2×
    deconvolution + ReLU and a 1×1 predictor, which is mmdet's ``FCNMaskHead`` layer for layer (``upsample`` is
    detectron2's ``deconv``, ``conv_logits`` its ``predictor``). Its loss is the same too: mean binary cross-entropy
    on the positive RoIs' targets cropped at the predicted side (``train_cfg.rcnn.mask_size``).

    What differs is the initialisation, which matters when a checkpoint has no mask head (RegionCLIP's pretrained
    weights): detectron2 draws the predictor from N(0, 0.001) where mmdet uses He normal as for the other layers.
    """

    def init_weights(self) -> None:
        super().init_weights()
        nn.init.normal_(self.conv_logits.weight, std=0.001)
        nn.init.constant_(self.conv_logits.bias, 0)
