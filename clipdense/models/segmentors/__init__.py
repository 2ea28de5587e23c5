from .clip_encoder_decoder import CLIPEncoderDecoder
from .training_free import TrainingFreeSegmentor
from .zegclip import ZegCLIP

__all__ = ['CLIPEncoderDecoder', 'TrainingFreeSegmentor', 'ZegCLIP']
