from .clip_encoder_decoder import CLIPEncoderDecoder
from .fcclip import FCCLIP
from .san import SAN
from .training_free import TrainingFreeSegmentor
from .zegclip import ZegCLIP

__all__ = ['CLIPEncoderDecoder', 'FCCLIP', 'SAN', 'TrainingFreeSegmentor', 'ZegCLIP']
