"""Open-vocabulary detectors on mmdet 3.x."""
from .regionclip import RegionCLIP
from .vild import ViLD

__all__ = ['RegionCLIP', 'ViLD']
