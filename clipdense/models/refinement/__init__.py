from .maskclip_refinement import MaskCLIPRefinement
from .pamr import PAMR

__all__ = ['MaskCLIPRefinement', 'PAMR']
