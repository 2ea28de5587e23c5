"""Evaluation metrics mmseg lacks: :class:`OpenVocabIoUMetric` (mIoU over seen / unseen classes and their
harmonic mean)."""
from .open_vocab_iou_metric import OpenVocabIoUMetric

__all__ = ['OpenVocabIoUMetric']
