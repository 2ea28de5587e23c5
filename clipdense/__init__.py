"""clipdense: open-vocabulary dense prediction on CLIP, on the OpenMMLab stack."""
from .version import __version__

__all__ = ['__version__']
