"""Open-vocabulary detectors on mmdet 3.x."""
from .vild import ViLD

__all__ = ['ViLD']
