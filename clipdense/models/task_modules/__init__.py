"""Box coders and other task utilities of the detectors (mmdet modules registered in clipdense's TASK_UTILS)."""
from .tf_delta_xywh_bbox_coder import TFDeltaXYWHBBoxCoder

__all__ = ['TFDeltaXYWHBBoxCoder']
