from .clip_encoder_decoder import CLIPEncoderDecoder
from .training_free import TrainingFreeSegmentor

__all__ = ['CLIPEncoderDecoder', 'TrainingFreeSegmentor']
