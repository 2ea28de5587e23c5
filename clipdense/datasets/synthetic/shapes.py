"""Exact rasterisation of the synthetic world's shapes.

Each shape is an implicit region in a local frame where the shape fits in the unit disk; a pixel
belongs to the object iff its centre lies in the region, so masks are hard (no anti-aliasing) and
the painted pixels are exactly the mask.
"""
import math
from typing import Callable, Dict, Tuple

import numpy as np


def _regular_polygon(num_vertices: int, radius: float = 1.0,
                     start_angle: float = math.pi / 2) -> np.ndarray:
    angles = start_angle + 2 * math.pi * np.arange(num_vertices) / num_vertices
    return radius * np.stack([np.cos(angles), np.sin(angles)], axis=1)


def _star_polygon(points: int = 5, inner_radius: float = 0.42) -> np.ndarray:
    outer = _regular_polygon(points)
    inner = _regular_polygon(points, inner_radius, math.pi / 2 + math.pi / points)
    return np.stack([outer, inner], axis=1).reshape(-1, 2)


def polygon_mask(u: np.ndarray, v: np.ndarray, vertices: np.ndarray) -> np.ndarray:
    """Even-odd point-in-polygon test of points (u, v) against a closed polygon (V x 2)."""
    inside = np.zeros(np.broadcast(u, v).shape, dtype=bool)
    for (u0, v0), (u1, v1) in zip(vertices, np.roll(vertices, -1, axis=0)):
        if v0 == v1:
            continue  # a horizontal edge never crosses the horizontal ray
        crosses = (v0 > v) != (v1 > v)
        u_at_v = u0 + (v - v0) * (u1 - u0) / (v1 - v0)
        inside ^= crosses & (u < u_at_v)
    return inside


_TRIANGLE = _regular_polygon(3)
_STAR = _star_polygon()
_DIAMOND = np.array([[0.0, 1.0], [0.6, 0.0], [0.0, -1.0], [-0.6, 0.0]])


def _circle(u, v):
    return u * u + v * v <= 1.0


def _ring(u, v):
    r2 = u * u + v * v
    return (r2 <= 1.0) & (r2 >= 0.55 ** 2)


def _square(u, v):
    return np.maximum(np.abs(u), np.abs(v)) <= 0.75


def _cross(u, v):
    au, av = np.abs(u), np.abs(v)
    return ((au <= 0.3) & (av <= 0.95)) | ((av <= 0.3) & (au <= 0.95))


def _crescent(u, v):
    return (u * u + v * v <= 1.0) & ((u - 0.45) ** 2 + v * v > 0.8 ** 2)


SHAPE_REGIONS: Dict[str, Callable[[np.ndarray, np.ndarray], np.ndarray]] = {
    'circle': _circle,
    'square': _square,
    'triangle': lambda u, v: polygon_mask(u, v, _TRIANGLE),
    'star': lambda u, v: polygon_mask(u, v, _STAR),
    'ring': _ring,
    'cross': _cross,
    'diamond': lambda u, v: polygon_mask(u, v, _DIAMOND),
    'crescent': _crescent,
}

# Largest rotation (degrees) each shape may get. Squares, crosses and diamonds stay near upright so
# that a square never becomes a diamond; the others turn freely.
MAX_ROTATION: Dict[str, float] = {
    'circle': 180.0, 'square': 15.0, 'triangle': 180.0, 'star': 180.0, 'ring': 180.0,
    'cross': 15.0, 'diamond': 15.0, 'crescent': 180.0,
}


def rasterize_shape(shape: str, canvas_hw: Tuple[int, int], center_xy: Tuple[float, float],
                    radius: float, rotation_deg: float) -> np.ndarray:
    """Boolean mask (H x W) of ``shape`` drawn on a canvas of size ``canvas_hw``.

    Args:
        shape: one of :data:`SHAPE_REGIONS`.
        canvas_hw: (height, width) of the canvas in pixels.
        center_xy: shape centre in pixel coordinates (x right, y down; pixel centres at +0.5).
        radius: radius of the disk the shape fits in, in pixels.
        rotation_deg: counter-clockwise rotation of the shape.
    """
    if shape not in SHAPE_REGIONS:
        raise KeyError(f'unknown shape {shape!r}; shapes are {tuple(SHAPE_REGIONS)}')
    height, width = canvas_hw
    cx, cy = center_xy
    mask = np.zeros((height, width), dtype=bool)
    # Only the shape's bounding square needs testing.
    x0, x1 = max(int(math.floor(cx - radius)), 0), min(int(math.ceil(cx + radius)) + 1, width)
    y0, y1 = max(int(math.floor(cy - radius)), 0), min(int(math.ceil(cy + radius)) + 1, height)
    if x0 >= x1 or y0 >= y1:
        return mask
    dx = (np.arange(x0, x1) + 0.5 - cx)[None, :]
    dy = (cy - (np.arange(y0, y1) + 0.5))[:, None]  # y up in the local frame
    theta = math.radians(rotation_deg)
    cos_t, sin_t = math.cos(theta), math.sin(theta)
    u = (cos_t * dx + sin_t * dy) / radius
    v = (-sin_t * dx + cos_t * dy) / radius
    mask[y0:y1, x0:x1] = SHAPE_REGIONS[shape](u, v)
    return mask
