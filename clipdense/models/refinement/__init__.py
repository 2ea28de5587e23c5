from .pamr import PAMR

__all__ = ['PAMR']
