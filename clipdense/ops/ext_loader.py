"""Access to the compiled extension ``clipdense._ext`` (built by ``setup.py``)."""
import functools
import importlib
from types import ModuleType
from typing import Optional, Tuple

import torch

# The interface of the ops the wrappers call; pybind.cpp's interface_version (3: bilinear_resize).
EXT_INTERFACE = 3


@functools.lru_cache(maxsize=None)
def _import_ext() -> Tuple[Optional[ModuleType], Optional[str]]:
    try:
        ext = importlib.import_module('clipdense._ext')
    except ImportError as error:
        return None, str(error)
    version = getattr(ext, 'interface_version', 1)
    if version != EXT_INTERFACE:
        return None, (f'{ext.__file__} was built from other sources (interface {version}, these wrappers '
                      f'need {EXT_INTERFACE}): rebuild it')
    return ext, None


def load_ext() -> Optional[ModuleType]:
    """Return ``clipdense._ext``, or None when it is not built (or fails to load)."""
    return _import_ext()[0]


def ext_import_error() -> Optional[str]:
    """Why ``clipdense._ext`` could not be imported; None when it imports."""
    return _import_ext()[1]


def require_ext(op_name: str) -> ModuleType:
    """Return ``clipdense._ext`` or raise an error that says how to build it."""
    ext, error = _import_ext()
    if ext is None:
        raise RuntimeError(
            f'{op_name} needs the compiled extension clipdense._ext, which does not import '
            f'({error}). Build it with `python setup.py build_ext --inplace` (or '
            '`pip install -e .`) in the clipdense checkout, or use the pure-PyTorch reference '
            'in clipdense.ops.reference.')
    return ext


def ext_supports_device(device: torch.device) -> bool:
    """Whether the built extension has kernels for tensors on ``device``."""
    ext = load_ext()
    if ext is None:
        return False
    device = torch.device(device)
    if device.type == 'cpu':
        return True
    return device.type == 'cuda' and ext.built_with_cuda()
