"""Data transforms clipdense adds to mmseg's."""
from .loading import Load16BitAnnotations

__all__ = ['Load16BitAnnotations']
