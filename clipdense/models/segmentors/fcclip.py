import torch

from clipdense.registry import MODELS

from .mask_classification import MaskClassificationSegmentor


@MODELS.register_module()
class FCCLIP(MaskClassificationSegmentor):
    """FC-CLIP (Yu et al., NeurIPS 2023; bytedance/fc-clip): one frozen convolutional CLIP gives the multi-scale
    features of a Mask2Former (``FrozenCLIPConvNeXt`` backbone, ``FCCLIPHead``) and classifies its masks a second
    time from its own pooled features, ensembled with the trained classifier.

    Whole-image inference on the padded image (the data preprocessor pads to a multiple of 32); masks and classes
    are combined as ``test_cfg.mask_combine`` says (``MaskClassificationSegmentor``): the reference combines at the
    original size where it also infers panoptic or instance output (COCO, ADE-150, Cityscapes: ``'original'``) and
    at the padded input otherwise (``'padded'``).
    """

    def __init__(self, **kwargs):
        super().__init__(**kwargs)
        self.decode_head.clip_logit_scale.copy_(self.text_classifier.clip_model.logit_scale.detach().exp())

    def extract_feat(self, inputs: torch.Tensor) -> tuple:
        """What the head takes: CLIP's stage maps and CLIP's head for pooled last-stage vectors."""
        return self.backbone(inputs), self.backbone.pooled_embedding
