"""Benchmark datasets mmseg lacks, the 16-bit label loader, the on-disk format writers, and
the synthetic world (``clipdense.datasets.synthetic``).

The eight standard benchmarks reuse mmseg's classes where their layout matches:
``PascalVOCDataset`` (VOC-21), ``PascalContextDataset`` (Context-60),
``PascalContextDataset59`` (Context-59), ``COCOStuffDataset`` (COCO-Stuff-171),
``CityscapesDataset`` and ``ADE20KDataset`` (ADE-150). See ``docs/datasets.md``.

Open-vocabulary detection: ``ov_splits`` (the OV-COCO and OV-LVIS splits and the functions writing their
jsons) and ``OVCocoDataset``; OV-LVIS reads with mmdet's ``LVISV1Dataset``.
"""
from . import ov_splits, synthetic, writers
from .ade20k_847 import ADE20K847Dataset
from .ade20k_panoptic import ADE20KPanopticDataset
from .cityscapes_panoptic import CityscapesPanopticDataset
from .coco_object import COCOObjectDataset
from .coco_panoptic import COCOPanopticSegDataset
from .coco_panoptic_semantic import COCOPanopticSemanticDataset
from .ov_coco import OVCocoDataset
from .pascal_context_459 import PascalContext459Dataset
from .transforms import (Detectron2ResizeShortestEdge, Load16BitAnnotations, LoadPanopticAnnotations,
                         LoadRegionEmbeddings, PackPanopticSegInputs)
from .voc20 import PascalVOC20Dataset

__all__ = [
    'ov_splits', 'synthetic', 'writers', 'ADE20K847Dataset', 'ADE20KPanopticDataset',
    'CityscapesPanopticDataset', 'COCOObjectDataset', 'COCOPanopticSegDataset',
    'COCOPanopticSemanticDataset', 'OVCocoDataset', 'PascalContext459Dataset', 'PascalVOC20Dataset',
    'Detectron2ResizeShortestEdge', 'Load16BitAnnotations', 'LoadPanopticAnnotations', 'LoadRegionEmbeddings',
    'PackPanopticSegInputs'
]
