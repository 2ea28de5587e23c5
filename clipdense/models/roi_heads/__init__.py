"""RoI heads and their parts for the open-vocabulary detectors (mmdet modules registered in clipdense's scope)."""
from .detectron2_mask_head import Detectron2MaskHead
from .region_concept_labeler import (ConceptPoolError, ConceptPseudoLabels, RegionConceptLabeler, concept_pseudo_labels,
                                     read_concept_pool)
from .region_text_classifier import RegionTextClassifier
from .regionclip_bbox_head import RegionCLIPBBoxHead, fuse_rpn_scores
from .regionclip_roi_head import RegionCLIPRoIHead
from .roi_extractor import RoIExtractor
from .vild_bbox_head import ViLDBBoxHead
from .vild_mask_head import ViLDMaskHead
from .vild_roi_head import ViLDRoIHead, distillation_regions

__all__ = ['Detectron2MaskHead', 'RegionCLIPBBoxHead', 'RegionCLIPRoIHead', 'RegionTextClassifier', 'RoIExtractor',
           'ViLDBBoxHead', 'ViLDMaskHead', 'ViLDRoIHead', 'distillation_regions', 'fuse_rpn_scores', 'ConceptPoolError',
           'ConceptPseudoLabels', 'RegionConceptLabeler', 'concept_pseudo_labels', 'read_concept_pool']
