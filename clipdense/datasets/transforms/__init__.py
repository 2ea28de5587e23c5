"""Data transforms clipdense adds to mmseg's."""
from .loading import Load16BitAnnotations
from .panoptic import LoadPanopticAnnotations, PackPanopticSegInputs
from .region_embeddings import LoadRegionEmbeddings
from .resize import Detectron2ResizeShortestEdge, TFResizeAndPad

__all__ = ['Detectron2ResizeShortestEdge', 'Load16BitAnnotations', 'LoadPanopticAnnotations', 'LoadRegionEmbeddings',
           'PackPanopticSegInputs', 'TFResizeAndPad']
