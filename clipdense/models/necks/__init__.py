"""Necks between a backbone and the heads (mmdet modules registered in clipdense's scope)."""
from .vild_fpn import ViLDFPN

__all__ = ['ViLDFPN']
