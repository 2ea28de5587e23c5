from clipdense.registry import MODELS

from . import (backbones, clip, dense_heads, detectors, heads, layers, losses, necks,  # noqa: F401 (registers)
               proposal_generators, refinement, roi_heads, segmentors, task_modules)

# models/clip knows no registry (it is CLIP alone); its last blocks are registered here so configs can name them.
for _last_block in clip.LAST_BLOCKS:
    MODELS.register_module(module=_last_block)

__all__ = ['backbones', 'clip', 'dense_heads', 'detectors', 'heads', 'layers', 'losses', 'necks', 'proposal_generators',
           'refinement', 'roi_heads', 'segmentors', 'task_modules']
