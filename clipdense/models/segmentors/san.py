from typing import List, Optional

import torch
import torch.nn.functional as F
from mmengine.structures import PixelData
from mmseg.structures import SegDataSample

from clipdense.registry import MODELS

from clipdense.models.heads.san_head import mask_combine

from .clip_encoder_decoder import CLIPEncoderDecoder
from .postprocess import unflip


@MODELS.register_module()
class SAN(CLIPEncoderDecoder):
    """SAN (Xu et al., CVPR 2023; MendelXu/SAN): a side adapter network proposes masks and steers a frozen CLIP's
    last blocks to recognise them (``SANCLIPViT`` backbone, ``SANHead``).

    The backbone sees the padded, normalised image scaled by ``input_scale``; the side adapter sees it at full
    resolution. Whole-image inference (``test_cfg.mode='whole'``, images padded to a multiple of 32 by the data
    preprocessor). ``seg_logits`` holds the semantic scores Σ_q softmax(class)[:-1]·sigmoid(mask) at the original
    image size, combined as ``test_cfg.mask_combine`` says (``'original'``, the official order, or ``'padded'``,
    mmseg's port); labels are their argmax.
    """

    def __init__(self, **kwargs):
        super().__init__(**kwargs)
        mask_combine(self.test_cfg)  # a bad value fails at build, not at the first image
        self.decode_head.logit_scale.copy_(self.text_classifier.clip_model.logit_scale.detach().exp())

    def extract_feat(self, inputs: torch.Tensor) -> tuple:
        """What the head takes: the images, CLIP's features and CLIP's recognition step."""
        return inputs, self.backbone(inputs), self.backbone.recognize

    def predict(self, inputs: torch.Tensor, data_samples: Optional[List[SegDataSample]] = None) -> List[SegDataSample]:
        if mask_combine(self.test_cfg) == 'padded':
            return super().predict(inputs, data_samples)
        if self.test_cfg.get('mode', 'whole') != 'whole':
            raise ValueError("SAN infers on whole images: set model.test_cfg.mode='whole'")
        metas = [sample.metainfo for sample in data_samples] if data_samples is not None else None
        mask_logits, class_logits = self.decode_head.predict(self.extract_feat(inputs), metas, self.test_cfg)
        if data_samples is None:
            data_samples = [SegDataSample() for _ in range(len(inputs))]
        for index, sample in enumerate(data_samples):
            masks = mask_logits[index:index + 1]
            if sample.metainfo:
                masks = self._to_original_size(masks, sample)
            scores = self.decode_head.semantic_scores(masks, class_logits[index:index + 1])[0]
            sample.set_data(dict(seg_logits=PixelData(data=scores),
                                 pred_sem_seg=PixelData(data=scores.argmax(dim=0, keepdim=True))))
        return data_samples

    @staticmethod
    def _to_original_size(masks: torch.Tensor, sample: SegDataSample) -> torch.Tensor:
        """Mask logits at the padded input cropped to the image and resized to its original size (flipped back
        for test-time flips), as mmseg's ``postprocess_result`` treats class maps."""
        meta = sample.metainfo
        left, right, top, bottom = meta.get('img_padding_size', meta.get('padding_size', [0] * 4))
        height, width = masks.shape[-2:]
        masks = unflip(masks[..., top:height - bottom, left:width - right], sample)
        return F.interpolate(masks, size=meta['ori_shape'], mode='bilinear', align_corners=False)
