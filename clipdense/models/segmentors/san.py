import torch

from clipdense.registry import MODELS

from .mask_classification import MaskClassificationSegmentor


@MODELS.register_module()
class SAN(MaskClassificationSegmentor):
    """SAN (Xu et al., CVPR 2023; MendelXu/SAN): a side adapter network proposes masks and steers a frozen CLIP's
    last blocks to recognise them (``SANCLIPViT`` backbone, ``SANHead``).

    The backbone sees the padded, normalised image scaled by ``input_scale``; the side adapter sees it at full
    resolution. Whole-image inference (``test_cfg.mode='whole'``, images padded to a multiple of 32 by the data
    preprocessor); masks and classes are combined as ``test_cfg.mask_combine`` says (``'original'``, the official
    order, or ``'padded'``, mmseg's port; see ``MaskClassificationSegmentor``).
    """

    def __init__(self, **kwargs):
        super().__init__(**kwargs)
        self.decode_head.logit_scale.copy_(self.text_classifier.clip_model.logit_scale.detach().exp())

    def extract_feat(self, inputs: torch.Tensor) -> tuple:
        """What the head takes: the images, CLIP's features and CLIP's recognition step."""
        return inputs, self.backbone(inputs), self.backbone.recognize
