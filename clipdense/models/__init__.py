from clipdense.registry import MODELS

from . import backbones, clip, detectors, heads, layers, losses, refinement, roi_heads, segmentors  # noqa: F401 (registers the modules)

# models/clip knows no registry (it is CLIP alone); its last blocks are registered here so configs can name them.
for _last_block in clip.LAST_BLOCKS:
    MODELS.register_module(module=_last_block)

__all__ = ['backbones', 'clip', 'detectors', 'heads', 'layers', 'losses', 'refinement', 'roi_heads', 'segmentors']
