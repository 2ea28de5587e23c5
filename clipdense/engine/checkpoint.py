"""Load mmengine's checkpoints under torch's ``weights_only=True`` default.

torch >= 2.6 loads with ``weights_only=True`` by default. mmengine 0.10.7 calls ``torch.load`` without the
argument, and its checkpoints hold more than tensors: the message hub's ``HistoryBuffer`` (numpy arrays, and
its statistic functions, which pickle as ``getattr(HistoryBuffer, 'min')``), numpy scalars in the runtime
info, the dataset meta. ``--resume`` and ``tools/test.py CKPT`` therefore fail with "Weights only load
failed".

The fix lives here and only here: clipdense replaces mmengine's loader for local files with one that keeps
``weights_only=True`` and allows exactly the extra types mmengine writes, for the duration of that load.
``register_all_modules()`` installs it. Unpickling still cannot call anything outside that list. A missing
or unreadable checkpoint is a ``CheckpointError`` that names the file.
"""
import os.path as osp
from typing import Optional

import numpy as np
import torch
from mmengine.runner.checkpoint import CheckpointLoader

from clipdense.utils import UserError, describe_read_error


class CheckpointError(UserError, RuntimeError):
    """A checkpoint file that cannot be read."""


class CheckpointNotFoundError(CheckpointError, FileNotFoundError):
    """A checkpoint path that is not a file."""


def mmengine_checkpoint_types() -> list:
    """The non-tensor globals found in checkpoints written by mmengine's Runner."""
    from mmengine.logging.history_buffer import HistoryBuffer

    multiarray = np._core.multiarray if hasattr(np, '_core') else np.core.multiarray
    dtypes = [type(np.dtype(name)) for name in ('float64', 'float32', 'float16', 'int64', 'int32', 'bool')]
    return [HistoryBuffer, getattr, np.ndarray, np.dtype, multiarray._reconstruct, multiarray.scalar, *dtypes]


def require_checkpoint_file(filename: Optional[str], given_as: str = '') -> None:
    """Fail early, naming the path (and ``given_as``: the option that set it), when a local checkpoint is missing.
    URLs and other remote paths (``scheme://``) are left to mmengine's loaders."""
    if not filename or '://' in filename or osp.isfile(osp.expanduser(filename)):
        return
    source = f' ({given_as})' if given_as else ''
    raise CheckpointNotFoundError(f'checkpoint not found: {filename}{source}: give the path of an existing '
                                  'checkpoint file, such as a .pth written by tools/train.py.')


def load_local_checkpoint(filename: str, map_location=None):
    """mmengine's local-file checkpoint loader, with ``weights_only=True`` and mmengine's own types allowed."""
    filename = osp.expanduser(filename)
    require_checkpoint_file(filename)
    try:
        with torch.serialization.safe_globals(mmengine_checkpoint_types()):
            return torch.load(filename, map_location=map_location, weights_only=True)
    except Exception as error:  # noqa: BLE001 - truncated, not a torch file, or objects that are not allowed
        raise CheckpointError(f'cannot read checkpoint {filename} ({describe_read_error(error)}): give a checkpoint '
                              'written by tools/train.py or a torch state dict (a complete file of tensors).'
                              ) from error


def allow_mmengine_checkpoints() -> None:
    """Install ``load_local_checkpoint`` as mmengine's loader for local paths (idempotent)."""
    CheckpointLoader.register_scheme(prefixes='', loader=load_local_checkpoint, force=True)
