"""Dense (per-anchor) heads inside a detector (mmdet modules registered in clipdense's scope)."""
from .vild_rpn_head import ViLDRPNHead

__all__ = ['ViLDRPNHead']
