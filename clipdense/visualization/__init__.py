from .detections import draw_detections
from .overlay import draw_overlay, palette

__all__ = ['draw_overlay', 'draw_detections', 'palette']
