"""Square crops of synthetic scenes: around one object, or any window, with the objects inside.

Used to train and to evaluate the embedded tiny CLIP on object crops (classification) and on
scene windows (multi-object captions).
"""
from typing import List, Tuple

import cv2
import numpy as np

from .generator import Scene

# An object counts as inside a window when at least this fraction of its visible pixels is.
MIN_INSIDE_FRACTION = 0.5


def objects_inside(scene: Scene, x0: int, y0: int, side: int,
                   min_fraction: float = MIN_INSIDE_FRACTION) -> List[int]:
    """Indices of the scene's objects with at least ``min_fraction`` of their visible pixels in
    the square window (x0, y0, side)."""
    return [i for i, obj in enumerate(scene.objects)
            if obj.mask[y0:y0 + side, x0:x0 + side].sum() >= min_fraction * obj.area]


def object_window(scene: Scene, obj_index: int, context: float,
                  shift: Tuple[float, float] = (0.0, 0.0)) -> Tuple[int, int, int]:
    """Square window (x0, y0, side) centred on an object, ``context`` times its box's long side
    (at least 16 px), moved by ``shift`` x side and kept inside the image."""
    height, width = scene.labels.shape
    x, y, w, h = scene.objects[obj_index].bbox
    side = int(round(min(max(max(w, h) * context, 16), min(height, width))))
    cx = x + w / 2 + shift[0] * side
    cy = y + h / 2 + shift[1] * side
    x0 = int(round(min(max(cx - side / 2, 0), width - side)))
    y0 = int(round(min(max(cy - side / 2, 0), height - side)))
    return x0, y0, side


def crop_resized(image: np.ndarray, x0: int, y0: int, side: int, size: int) -> np.ndarray:
    """The square window of ``image`` resized to size x size (area-averaged when shrinking)."""
    window = image[y0:y0 + side, x0:x0 + side]
    interpolation = cv2.INTER_AREA if side > size else cv2.INTER_LINEAR
    return cv2.resize(window, (size, size), interpolation=interpolation)


def object_crops(scenes: List[Scene], size: int, context: float = 1.5):
    """One centred crop per object of ``scenes``: (N x size x size x 3 uint8, N class ids)."""
    crops, class_ids = [], []
    for scene in scenes:
        for i, obj in enumerate(scene.objects):
            crops.append(crop_resized(scene.image, *object_window(scene, i, context), size))
            class_ids.append(obj.class_id)
    return np.stack(crops), np.array(class_ids)
