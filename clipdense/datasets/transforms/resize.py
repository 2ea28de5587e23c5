"""Test-time resizing as detectron2 does it (the SAN and FC-CLIP references run on detectron2)."""
import mmcv
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
