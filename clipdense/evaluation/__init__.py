"""Evaluation metrics mmseg and mmdet lack: :class:`OpenVocabIoUMetric` (mIoU over seen / unseen classes and their
harmonic mean), :class:`OVCocoMetric` (COCO AP50 over novel / base / all classes),
:class:`PanopticQualityMetric` (PQ / SQ / RQ without panopticapi) and :class:`ClassIndexCocoMetric` (COCO AP against
a json whose category ids are class indices). OV-LVIS uses mmdet's
``LVISMetric``, with the ``lvis`` package fixed for today's numpy on import."""
from .class_index_coco_metric import ClassIndexCocoMetric
from .lvis_numpy_compat import fix_lvis_numpy_aliases
from .open_vocab_iou_metric import OpenVocabIoUMetric
from .ov_coco_metric import OVCocoMetric
from .panoptic_quality_metric import PanopticQualityMetric

fix_lvis_numpy_aliases()

__all__ = [
    'ClassIndexCocoMetric', 'OpenVocabIoUMetric', 'OVCocoMetric', 'PanopticQualityMetric', 'fix_lvis_numpy_aliases'
]
