"""Proposal networks that run beside a detector rather than inside its training (mmdet modules registered in
clipdense's scope)."""
from .offline_rpn import OfflineRPN

__all__ = ['OfflineRPN']
