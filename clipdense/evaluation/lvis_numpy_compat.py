"""Let the ``lvis`` package (LVIS API 0.5.3, the latest release, which mmdet's ``LVISMetric`` and
``LVISV1Dataset`` import) evaluate under numpy >= 1.24.

Its ``LVISEval.accumulate`` casts with ``np.float``, an alias numpy deprecated in 1.20 and removed in 1.24, so
every LVIS evaluation ends in an ``AttributeError`` under the numpy clipdense installs. The alias meant the
builtin ``float``; :func:`fix_lvis_numpy_aliases` gives ``lvis.eval`` a view of numpy that still has it, and
leaves numpy itself and every other module alone.
"""
import types

import numpy as np


class _NumpyWithFloatAlias(types.ModuleType):
    """numpy, plus the removed alias ``float`` (the builtin, as it always was)."""
    float = float

    def __getattr__(self, name: str):
        return getattr(np, name)


def fix_lvis_numpy_aliases() -> bool:
    """Point ``lvis.eval``'s ``np`` at numpy with the alias, where numpy lacks it and ``lvis`` is installed.

    Returns whether ``lvis.eval`` now uses the fixed view (False without ``lvis``, or with an old numpy)."""
    if hasattr(np, 'float'):
        return False
    try:
        import lvis.eval as lvis_eval
    except ImportError:
        return False
    if not isinstance(lvis_eval.np, _NumpyWithFloatAlias):
        lvis_eval.np = _NumpyWithFloatAlias('numpy')
    return True
