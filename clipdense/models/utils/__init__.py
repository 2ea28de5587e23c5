from .sliding_window import SlidingWindow, resize_logits, window_grid

__all__ = ['SlidingWindow', 'resize_logits', 'window_grid']
