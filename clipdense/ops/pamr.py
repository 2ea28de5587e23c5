"""PAMR's propagation (pixel-adaptive mask refinement, the step SCLIP and NACLIP repeat on full-size score
maps), backed by ``clipdense._ext``.

Every step replaces each score by the affinity-weighted sum of its neighbours' scores. The compiled kernels do
one pass over the maps per step (the PyTorch reference makes three per neighbour) and round exactly as the
reference does, so their results are bit for bit the reference's: the op picks the kernel where one exists for
the tensors' device and dtype and runs the reference otherwise (a missing extension is logged once).
"""
from typing import Sequence

import torch
from mmengine.logging import print_log
from torch import Tensor

from .ext_loader import ext_import_error, ext_supports_device, load_ext
from .reference import pamr_propagate_reference

_COMPILED_DTYPES = {
    'cpu': (torch.float32, torch.float64),
    'cuda': (torch.float32, torch.float64, torch.float16, torch.bfloat16),
}
_warned = set()


def has_compiled_pamr(scores: Tensor) -> bool:
    """Whether ``clipdense._ext`` has a PAMR kernel for ``scores``' device and dtype."""
    return (ext_supports_device(scores.device) and
            scores.dtype in _COMPILED_DTYPES.get(scores.device.type, ()))


def pamr_propagate(scores: Tensor, weights: Tensor, dilations: Sequence[int], steps: int) -> Tensor:
    """``steps`` propagation steps of ``scores`` (B, C, H, W) with ``weights`` (B, 8 · len(dilations), H, W):
    the compiled kernel where there is one, else ``pamr_propagate_reference`` (same results)."""
    if steps == 0:
        return scores
    if has_compiled_pamr(scores):
        return load_ext().pamr_propagate(scores, weights.to(scores.dtype), [int(d) for d in dilations],
                                         int(steps))
    if load_ext() is None and scores.device.type not in _warned:
        _warned.add(scores.device.type)
        print_log(f'PAMR runs its PyTorch reference (same results, several times slower): clipdense._ext does '
                  f'not import ({ext_import_error()}); build it with `pip install -e .`', logger='current',
                  level=30)
    return pamr_propagate_reference(scores, weights, dilations, steps)
