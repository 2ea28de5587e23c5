from clipdense.registry import MODELS

from . import (backbones, clip, detectors, heads, layers, losses, proposal_generators,  # noqa: F401 (registers)
               refinement, roi_heads, segmentors)

# models/clip knows no registry (it is CLIP alone); its last blocks are registered here so configs can name them.
for _last_block in clip.LAST_BLOCKS:
    MODELS.register_module(module=_last_block)

__all__ = ['backbones', 'clip', 'detectors', 'heads', 'layers', 'losses', 'proposal_generators', 'refinement',
           'roi_heads', 'segmentors']
