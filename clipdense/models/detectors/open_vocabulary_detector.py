import torch
from mmdet.models.detectors import TwoStageDetector

from clipdense.models.utils import OpenVocabularyMixin
from clipdense.utils.precision import run_lowered


class OpenVocabularyDetector(OpenVocabularyMixin, TwoStageDetector):
    """What the open-vocabulary two-stage detectors share beyond the vocabulary path: under a bf16/fp16
    ``precision`` only the feature extractor (and what a method lowers itself, e.g. RegionCLIP's region tower)
    runs in the lower format; mmdet's proposal and box post-processing (NMS, box decoding) gets fp32 features and
    stays fp32."""

    autocast_whole_step = False

    def extract_feat(self, batch_inputs: torch.Tensor) -> tuple:
        if self.training:
            return super().extract_feat(batch_inputs)
        return run_lowered(self.precision, batch_inputs.device, super().extract_feat, batch_inputs)
