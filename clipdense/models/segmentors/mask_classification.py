from typing import List, Optional

import torch
import torch.nn.functional as F
from mmengine.structures import PixelData
from mmseg.structures import SegDataSample

from clipdense.models.heads.mask_classification import mask_combine, semantic_scores

from .clip_encoder_decoder import CLIPEncoderDecoder
from .postprocess import unflip


class MaskClassificationSegmentor(CLIPEncoderDecoder):
    """A ``CLIPEncoderDecoder`` whose head classifies mask proposals (SAN, FC-CLIP): whole-image inference,
    ``seg_logits`` = Σ_q softmax(class logits)[:-1] · sigmoid(mask logits) at the original image size, combined
    as ``test_cfg.mask_combine`` says:

    * ``'original'`` (Mask2Former's ``sem_seg_postprocess`` before inference): the head's mask logits at the padded
      input are cropped to the image, resized to its original size (flipped back for test-time flips), then
      combined with the class logits here, per image;
    * ``'padded'``: the head combines at the padded input; mmseg's post-processing crops and resizes the class map.

    The head's ``predict(inputs, metas, test_cfg)`` returns the class map for ``'padded'`` and
    ``(mask logits at the padded input, class logits with a last no-object column)`` for ``'original'``.
    """

    def __init__(self, **kwargs):
        super().__init__(**kwargs)
        mask_combine(self.test_cfg)  # a bad value fails at build, not at the first image

    def predict(self, inputs: torch.Tensor, data_samples: Optional[List[SegDataSample]] = None) -> List[SegDataSample]:
        if mask_combine(self.test_cfg) == 'padded':
            return super().predict(inputs, data_samples)
        if self.test_cfg.get('mode', 'whole') != 'whole':
            raise ValueError(f"{type(self).__name__} infers on whole images: set model.test_cfg.mode='whole'")
        metas = [sample.metainfo for sample in data_samples] if data_samples is not None else None
        mask_logits, class_logits = self.decode_head.predict(self.extract_feat(inputs), metas, self.test_cfg)
        if data_samples is None:
            data_samples = [SegDataSample() for _ in range(len(inputs))]
        for index, sample in enumerate(data_samples):
            masks = mask_logits[index:index + 1]
            if sample.metainfo:
                masks = self._to_original_size(masks, sample)
            scores = semantic_scores(masks, class_logits[index:index + 1].to(masks))[0]
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
