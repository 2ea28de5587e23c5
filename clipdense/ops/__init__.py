"""clipdense's own compiled ops (RoIAlign, fused dense attention, PAMR propagation, bilinear resize), with pure-PyTorch
references.

The kernels live in the extension ``clipdense._ext`` (``clipdense/ops/csrc``, built by
``setup.py``); see docs/ops.md.
"""
from .bilinear_resize import resize_bilinear
from .dense_attention import dense_attention, dense_attention_sdpa, select_dense_attention
from .ext_loader import load_ext
from .pamr import pamr_propagate
from .reference import dense_attention_reference, pamr_propagate_reference, roi_align_reference
from .roi_align import RoIAlign, roi_align

__all__ = [
    'RoIAlign', 'roi_align', 'roi_align_reference', 'dense_attention', 'dense_attention_reference',
    'dense_attention_sdpa',
    'select_dense_attention', 'pamr_propagate', 'pamr_propagate_reference', 'resize_bilinear', 'load_ext'
]
