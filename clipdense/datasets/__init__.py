"""Benchmark datasets mmseg lacks, their on-disk writers, and the synthetic world generator."""
from . import writers

__all__ = ['writers']
