"""Evaluation metrics mmseg and mmdet lack: :class:`OpenVocabIoUMetric` (mIoU over seen / unseen classes and their
harmonic mean), :class:`OVCocoMetric` (COCO AP50 over novel / base / all classes) and
:class:`PanopticQualityMetric` (PQ / SQ / RQ without panopticapi). OV-LVIS uses mmdet's
``LVISMetric``, with the ``lvis`` package fixed for today's numpy on import."""
from .lvis_numpy_compat import fix_lvis_numpy_aliases
from .open_vocab_iou_metric import OpenVocabIoUMetric
from .ov_coco_metric import OVCocoMetric
from .panoptic_quality_metric import PanopticQualityMetric

fix_lvis_numpy_aliases()

__all__ = ['OpenVocabIoUMetric', 'OVCocoMetric', 'PanopticQualityMetric', 'fix_lvis_numpy_aliases']
