from .open_vocabulary import OpenVocabularyMixin, build_clip_and_text
from .sliding_window import SlidingWindow, resize_logits, window_grid

__all__ = ['OpenVocabularyMixin', 'build_clip_and_text', 'SlidingWindow', 'resize_logits', 'window_grid']
