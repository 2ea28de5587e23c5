"""RoI heads and their parts for the open-vocabulary detectors (mmdet modules registered in clipdense's scope)."""
from .region_text_classifier import RegionTextClassifier
from .roi_extractor import RoIExtractor
from .vild_bbox_head import ViLDBBoxHead
from .vild_roi_head import ViLDRoIHead, distillation_regions

__all__ = ['RegionTextClassifier', 'RoIExtractor', 'ViLDBBoxHead', 'ViLDRoIHead', 'distillation_regions']
