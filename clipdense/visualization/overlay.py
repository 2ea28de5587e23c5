"""Colour overlays of label maps with a legend of the classes present."""
from typing import List, Optional, Sequence

import cv2
import numpy as np


def palette(num_classes: int, seed: int = 2024) -> np.ndarray:
    """(num_classes, 3) distinct-looking BGR colours, the same for the same ``num_classes`` every time."""
    rng = np.random.RandomState(seed)
    hues = (np.arange(num_classes) * 0.618033988749895 + rng.rand()) % 1.0
    hsv = np.stack([hues * 180, np.full(num_classes, 200), np.full(num_classes, 230)], axis=1)
    return cv2.cvtColor(hsv.astype(np.uint8)[None], cv2.COLOR_HSV2BGR)[0]


def draw_overlay(image: np.ndarray, labels: np.ndarray, class_names: Sequence[str], opacity: float = 0.5,
                 colors: Optional[np.ndarray] = None, ignore_index: int = 255) -> np.ndarray:
    """The BGR ``image`` blended with the coloured ``labels`` (H, W), with a legend panel on the right that
    lists the classes present, largest first, with their share of the image."""
    if image.shape[:2] != labels.shape:
        raise ValueError(f'image {image.shape[:2]} and label map {labels.shape} differ in size')
    colors = palette(len(class_names)) if colors is None else colors
    valid = labels != ignore_index
    colored = image.copy()
    colored[valid] = colors[labels[valid]]
    blended = cv2.addWeighted(image, 1 - opacity, colored, opacity, 0)
    legend = _legend(labels[valid], class_names, colors, image.shape[0])
    if legend.shape[0] > blended.shape[0]:  # a long legend extends the canvas downwards
        blended = cv2.copyMakeBorder(blended, 0, legend.shape[0] - blended.shape[0], 0, 0, cv2.BORDER_CONSTANT,
                                     value=(255, 255, 255))
    return np.concatenate([blended, legend], axis=1)


def _legend(labels: np.ndarray, class_names: Sequence[str], colors: np.ndarray, height: int) -> np.ndarray:
    present, counts = np.unique(labels, return_counts=True)
    order = np.argsort(-counts)
    rows: List[str] = [f'{class_names[present[i]]} {100 * counts[i] / max(labels.size, 1):.0f}%' for i in order]
    row_height, scale = 22, 0.5
    width = 40 + max([cv2.getTextSize(row, cv2.FONT_HERSHEY_SIMPLEX, scale, 1)[0][0] for row in rows] + [80])
    panel = np.full((max(height, row_height * len(rows) + 8), width, 3), 255, np.uint8)
    for row, i in enumerate(order):
        top = 6 + row * row_height
        cv2.rectangle(panel, (6, top), (26, top + 16), colors[present[i]].tolist(), -1)
        cv2.putText(panel, rows[row], (32, top + 13), cv2.FONT_HERSHEY_SIMPLEX, scale, (0, 0, 0), 1, cv2.LINE_AA)
    return panel
