from .overlay import draw_overlay, palette

__all__ = ['draw_overlay', 'palette']
