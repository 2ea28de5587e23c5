"""Let mmengine's checkpoints load under ``torch.load(weights_only=True)``.

torch >= 2.6 loads with ``weights_only=True`` by default. mmengine 0.10.7 calls ``torch.load`` without the
argument, and its checkpoints hold more than tensors: the message hub's ``HistoryBuffer`` (numpy arrays),
numpy scalars in the runtime info, the dataset meta. ``--resume`` therefore fails with "Weights only load
failed". Rather than turning the safety check off, clipdense allow-lists exactly the types mmengine writes;
``register_all_modules()`` calls ``allow_mmengine_checkpoints()`` once, which is the one place this is fixed.
"""
import numpy as np
import torch

_done = False


def mmengine_checkpoint_types() -> list:
    """The non-tensor types found in checkpoints written by mmengine's Runner."""
    from mmengine.logging.history_buffer import HistoryBuffer

    numpy_types = [np.ndarray, np.dtype, np.core.multiarray._reconstruct, np.core.multiarray.scalar]
    numpy_types += [type(np.dtype(name)) for name in ('float64', 'float32', 'int64', 'int32', 'bool')]
    return [HistoryBuffer, *numpy_types]


def allow_mmengine_checkpoints() -> None:
    global _done
    if not _done:
        torch.serialization.add_safe_globals(mmengine_checkpoint_types())
        _done = True
