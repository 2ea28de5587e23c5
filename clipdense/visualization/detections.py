"""Detections drawn on an image: boxes with class name and score, masks lightly tinted."""
from typing import Optional, Sequence

import cv2
import numpy as np

from .overlay import palette


def _as_numpy(values) -> np.ndarray:
    """A numpy array from a numpy array, a list or a (CPU or GPU) torch tensor."""
    if hasattr(values, 'detach'):
        values = values.detach().cpu().numpy()
    return np.asarray(values)


def draw_detections(image_rgb: np.ndarray, boxes, labels, scores, class_names: Sequence[str], masks=None,
                    colors: Optional[np.ndarray] = None, mask_opacity: float = 0.35) -> np.ndarray:
    """A copy of the RGB ``image_rgb`` (H, W, 3) uint8 with the detections drawn on it.

    Args:
        boxes: (N, 4) x1, y1, x2, y2 in pixels of the image.
        labels: (N,) indices into ``class_names``.
        scores: (N,) shown after the class name with two decimals.
        class_names: the model's classes (``model.dataset_meta['classes']``); each class has its own colour.
        masks: optional (N, H, W) bool instance masks, tinted with the class colour at ``mask_opacity``.
        colors: optional (num_classes, 3) RGB colours; by default ``palette(len(class_names))``.
    """
    boxes, labels, scores = _as_numpy(boxes).reshape(-1, 4), _as_numpy(labels).astype(int), _as_numpy(scores)
    height, width = image_rgb.shape[:2]
    if not len(boxes) == len(labels) == len(scores):
        raise ValueError(f'{len(boxes)} boxes, {len(labels)} labels and {len(scores)} scores: give one of each '
                         'per detection')
    if len(labels) and (labels.min() < 0 or labels.max() >= len(class_names)):
        raise ValueError(f'labels range over {labels.min()}..{labels.max()} but there are {len(class_names)} '
                         'class names')
    # palette() gives BGR (OpenCV's order); this image is RGB.
    colors = palette(len(class_names))[:, ::-1] if colors is None else np.asarray(colors)
    canvas = image_rgb.copy()
    if masks is not None:
        masks = _as_numpy(masks).astype(bool)
        if masks.shape != (len(boxes), height, width):
            raise ValueError(f'masks of shape {masks.shape} for {len(boxes)} detections on a {height}x{width} '
                             'image: give (N, H, W) masks')
        for mask, label in zip(masks, labels):
            canvas[mask] = ((1 - mask_opacity) * canvas[mask] + mask_opacity * colors[label]).astype(np.uint8)
    # Sizes follow the image so that labels stay legible on small synthetic scenes and on photographs alike.
    thickness = max(1, round(min(height, width) / 300))
    font_scale = float(np.clip(min(height, width) / 600, 0.35, 1.0))
    order = np.argsort(scores, kind='stable')  # the highest scores are drawn last, on top
    for index in order:
        color = tuple(int(c) for c in colors[labels[index]])
        x1, y1, x2, y2 = (int(round(v)) for v in boxes[index])
        cv2.rectangle(canvas, (x1, y1), (x2, y2), color, thickness, cv2.LINE_AA)
        _draw_label(canvas, f'{class_names[labels[index]]} {scores[index]:.2f}', (x1, y1), color, font_scale)
    return canvas


def _draw_label(canvas: np.ndarray, text: str, corner: tuple, color: tuple, font_scale: float) -> None:
    """``text`` on a filled box of ``color`` just above ``corner`` (inside the box when there is no room above),
    kept within the image."""
    font = cv2.FONT_HERSHEY_SIMPLEX
    (text_width, text_height), baseline = cv2.getTextSize(text, font, font_scale, 1)
    label_height = text_height + baseline + 2
    x = min(max(corner[0], 0), max(canvas.shape[1] - text_width - 2, 0))
    top = corner[1] - label_height if corner[1] - label_height >= 0 else max(corner[1], 0)
    top = min(top, max(canvas.shape[0] - label_height, 0))
    cv2.rectangle(canvas, (x, top), (x + text_width + 2, top + label_height), color, -1)
    # Dark text on light colours, white on dark ones (ITU-R BT.601 luma).
    luma = 0.299 * color[0] + 0.587 * color[1] + 0.114 * color[2]
    text_color = (0, 0, 0) if luma > 140 else (255, 255, 255)
    cv2.putText(canvas, text, (x + 1, top + text_height + 1), font, font_scale, text_color, 1, cv2.LINE_AA)
