from .fcclip_head import FCCLIPHead
from .san_head import SANHead
from .text_classifier_head import TextClassifierHead
from .zegclip_head import ZegCLIPHead

__all__ = ['FCCLIPHead', 'SANHead', 'TextClassifierHead', 'ZegCLIPHead']
