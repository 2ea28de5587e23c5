from . import backbones, clip, heads, refinement, segmentors  # noqa: F401 (registers the modules)

__all__ = ['backbones', 'clip', 'heads', 'refinement', 'segmentors']
