"""Test-time resizing as the references' frameworks do it: detectron2's (SAN, FC-CLIP) and tensorflow/tpu's (ViLD)."""
from typing import Sequence, Tuple

import mmcv
import numpy as np
from mmcv.transforms import BaseTransform

from clipdense.registry import TRANSFORMS


@TRANSFORMS.register_module()
class Detectron2ResizeShortestEdge(BaseTransform):
    """Resize the image so that its short side is ``scale`` unless its long side would exceed ``max_size``, exactly as
    detectron2's ``ResizeShortestEdge``: the output size is detectron2's (each side rounded half up from the one
    scale), and the image is resized with PIL's bilinear filter, which antialiases when it shrinks, as detectron2
    resizes uint8 images.

    mmseg's ``ResizeShortestEdge`` computes the same size but resizes with cv2 (no antialiasing: a shrunk image
    differs from the reference's by several grey levels) through ``imrescale``, whose own rounding can be one pixel
    off. Use this one before loading the annotations (predictions are resized back to the original image).

    Modified keys: ``img``; added: ``img_shape``, ``scale``, ``scale_factor``, ``keep_ratio``.

    Args:
        scale: the target short side.
        max_size: the longest long side.
        backend: ``'pillow'`` (detectron2's) or ``'cv2'``.
    """

    def __init__(self, scale: int, max_size: int, backend: str = 'pillow') -> None:
        if backend not in ('pillow', 'cv2'):
            raise ValueError(f"backend must be 'pillow' or 'cv2', got {backend!r}")
        self.scale = scale
        self.max_size = max_size
        self.backend = backend

    def output_size(self, height: int, width: int):
        """(new height, new width), detectron2's ``ResizeShortestEdge.get_output_shape``."""
        scale = self.scale / min(height, width)
        new_h, new_w = (self.scale, scale * width) if height < width else (scale * height, self.scale)
        if max(new_h, new_w) > self.max_size:
            shrink = self.max_size / max(new_h, new_w)
            new_h, new_w = new_h * shrink, new_w * shrink
        return int(new_h + 0.5), int(new_w + 0.5)

    def transform(self, results: dict) -> dict:
        image = results['img']
        height, width = image.shape[:2]
        new_h, new_w = self.output_size(height, width)
        results['img'] = mmcv.imresize(image, (new_w, new_h), interpolation='bilinear', backend=self.backend)
        results['img_shape'] = (new_h, new_w)
        results['scale'] = (new_w, new_h)
        results['scale_factor'] = (new_w / width, new_h / height)
        results['keep_ratio'] = True
        return results

    def __repr__(self) -> str:
        return f'{type(self).__name__}(scale={self.scale}, max_size={self.max_size}, backend={self.backend!r})'


@TRANSFORMS.register_module()
class TFResizeAndPad(BaseTransform):
    """tensorflow/tpu's test-time input (``utils/input_utils.py: resize_and_crop_image`` without jitter, as ViLD's
    parser calls it): the image scaled by ``s = min(size_h / h, size_w / w)`` to ``round(h s) x round(w s)`` with
    TF1's bilinear ``tf.image.resize_images`` (source pixel = target pixel x in / out: no half-pixel centres, no
    antialiasing) in float32, then padded at the bottom and right to ``size``.

    The reference normalises before it resizes and pads with zeros; resizing is linear, so resizing first and padding
    with the data preprocessor's ``mean`` (``pad_val``) gives the same normalised input. ``img_shape`` is the padded
    ``size``, because the reference clips proposals and detections to it (its ``image_info[1]``), not to the resized
    image; ``scale_factor`` is (new w / w, new h / h), its ``image_info[2]``. Ground-truth boxes loaded before it are
    scaled; load masks after it.

    Modified keys: ``img`` (float32); added: ``img_shape``, ``scale``, ``scale_factor``, ``keep_ratio``.

    Args:
        size: (height, width) the image is scaled into and padded to (ViLD: 1024 x 1024).
        pad_val: the padding, per channel in the loaded image's order: the data preprocessor's ``mean`` (BGR for
            mmcv's loader when the preprocessor converts BGR to RGB), so that it normalises to 0.
    """

    def __init__(self, size: Sequence[int], pad_val: Sequence[float]) -> None:
        if len(size) != 2 or min(size) <= 0:
            raise ValueError(f'size must be (height, width) of positive sides, got {size!r}')
        self.size = tuple(int(side) for side in size)
        self.pad_val = tuple(float(value) for value in pad_val)

    def output_size(self, height: int, width: int) -> Tuple[int, int]:
        """(new height, new width) as the reference computes them, in float32, rounded half to even."""
        image_size = np.array([height, width], np.float32)
        desired = np.array(self.size, np.float32)
        scale = np.min(desired / image_size)
        new_h, new_w = np.round(image_size * scale)
        return int(new_h), int(new_w)

    def transform(self, results: dict) -> dict:
        image = results['img']
        if 'gt_masks' in results:
            raise ValueError('TFResizeAndPad does not resize masks: load the annotations after it')
        if image.ndim != 3 or image.shape[2] != len(self.pad_val):
            raise ValueError(f'TFResizeAndPad needs an (H, W, {len(self.pad_val)}) image for pad_val '
                             f'{self.pad_val}, got {image.shape}')
        height, width = image.shape[:2]
        new_h, new_w = self.output_size(height, width)
        padded = np.empty((*self.size, image.shape[2]), np.float32)
        padded[...] = np.array(self.pad_val, np.float32)
        padded[:new_h, :new_w] = tf_legacy_bilinear(image, new_h, new_w)
        results['img'] = padded
        results['img_shape'] = self.size
        results['scale'] = (new_w, new_h)
        results['scale_factor'] = (new_w / width, new_h / height)
        results['keep_ratio'] = True
        if results.get('gt_bboxes') is not None:
            results['gt_bboxes'].rescale_(results['scale_factor'])
        return results

    def __repr__(self) -> str:
        return f'{type(self).__name__}(size={self.size}, pad_val={self.pad_val})'


def tf_legacy_bilinear(image: np.ndarray, height: int, width: int) -> np.ndarray:
    """TF1's ``resize_bilinear`` (``align_corners=False, half_pixel_centers=False``) of an (H, W, C) image, float32,
    with TF's interpolation order: along x on the two rows, then along y."""

    def taps(out_size: int, in_size: int):
        source = np.arange(out_size, dtype=np.float32) * (np.float32(in_size) / np.float32(out_size))
        lower = np.floor(source)
        upper = np.minimum(np.ceil(source), in_size - 1)
        return lower.astype(np.int64), upper.astype(np.int64), (source - lower)

    image = image.astype(np.float32)
    y_low, y_high, y_lerp = taps(height, image.shape[0])
    x_low, x_high, x_lerp = taps(width, image.shape[1])
    x_lerp = x_lerp[None, :, None]
    top = image[y_low][:, x_low] + (image[y_low][:, x_high] - image[y_low][:, x_low]) * x_lerp
    bottom = image[y_high][:, x_low] + (image[y_high][:, x_high] - image[y_high][:, x_low]) * x_lerp
    return top + (bottom - top) * y_lerp[:, None, None]
