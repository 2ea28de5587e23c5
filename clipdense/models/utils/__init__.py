from .open_vocabulary import OpenVocabularyMixin, build_clip_and_text
from .sliding_window import SlidingWindow, window_grid
from .soft_nms import DETECTRON2_SOFT_NMS, detectron2_soft_nms, resolve_nms_cfg

__all__ = [
    'OpenVocabularyMixin', 'build_clip_and_text', 'SlidingWindow', 'window_grid',
    'DETECTRON2_SOFT_NMS', 'detectron2_soft_nms', 'resolve_nms_cfg'
]
