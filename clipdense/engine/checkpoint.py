"""Load mmengine's checkpoints under torch's ``weights_only=True`` default.

torch >= 2.6 loads with ``weights_only=True`` by default. mmengine 0.10.7 calls ``torch.load`` without the
argument, and its checkpoints hold more than tensors: the message hub's ``HistoryBuffer`` (numpy arrays, and
its statistic functions, which pickle as ``getattr(HistoryBuffer, 'min')``), numpy scalars in the runtime
info, the dataset meta. ``--resume`` and ``tools/test.py CKPT`` therefore fail with "Weights only load
failed".

The fix lives here and only here: clipdense replaces mmengine's loader for local files with one that keeps
``weights_only=True`` and allows exactly the extra types mmengine writes, for the duration of that load.
``register_all_modules()`` installs it. Unpickling still cannot call anything outside that list.
"""
import os.path as osp

import numpy as np
import torch
from mmengine.runner.checkpoint import CheckpointLoader


def mmengine_checkpoint_types() -> list:
    """The non-tensor globals found in checkpoints written by mmengine's Runner."""
    from mmengine.logging.history_buffer import HistoryBuffer

    multiarray = np._core.multiarray if hasattr(np, '_core') else np.core.multiarray
    dtypes = [type(np.dtype(name)) for name in ('float64', 'float32', 'float16', 'int64', 'int32', 'bool')]
    return [HistoryBuffer, getattr, np.ndarray, np.dtype, multiarray._reconstruct, multiarray.scalar, *dtypes]


def load_local_checkpoint(filename: str, map_location=None):
    """mmengine's local-file checkpoint loader, with ``weights_only=True`` and mmengine's own types allowed."""
    filename = osp.expanduser(filename)
    if not osp.isfile(filename):
        raise FileNotFoundError(f'checkpoint not found: {filename}')
    with torch.serialization.safe_globals(mmengine_checkpoint_types()):
        return torch.load(filename, map_location=map_location, weights_only=True)


def allow_mmengine_checkpoints() -> None:
    """Install ``load_local_checkpoint`` as mmengine's loader for local paths (idempotent)."""
    CheckpointLoader.register_scheme(prefixes='', loader=load_local_checkpoint, force=True)
