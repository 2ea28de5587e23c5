"""Evaluation metrics mmseg and mmdet lack: :class:`OpenVocabIoUMetric` (mIoU over seen / unseen classes and their
harmonic mean) and :class:`OVCocoMetric` (COCO AP50 over novel / base / all classes). OV-LVIS uses mmdet's
``LVISMetric``, with the ``lvis`` package fixed for today's numpy on import."""
from .lvis_numpy_compat import fix_lvis_numpy_aliases
from .open_vocab_iou_metric import OpenVocabIoUMetric
from .ov_coco_metric import OVCocoMetric

fix_lvis_numpy_aliases()

__all__ = ['OpenVocabIoUMetric', 'OVCocoMetric', 'fix_lvis_numpy_aliases']
