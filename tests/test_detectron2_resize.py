"""Detectron2ResizeShortestEdge: detectron2's output size and PIL's bilinear resize (SAN's and FC-CLIP's test
resizing), where mmseg's ResizeShortestEdge resizes with cv2."""
import numpy as np
import pytest
from PIL import Image

from clipdense.datasets import Detectron2ResizeShortestEdge


def detectron2_size(height, width, short, max_size):
    """detectron2's ResizeShortestEdge.get_output_shape, written out as its docstring states it."""
    scale = short / min(height, width)
    new_h, new_w = (short, scale * width) if height < width else (scale * height, short)
    if max(new_h, new_w) > max_size:
        new_h, new_w = new_h * max_size / max(new_h, new_w), new_w * max_size / max(new_h, new_w)
    return int(new_h + 0.5), int(new_w + 0.5)


@pytest.mark.parametrize('shape, short, max_size', [((333, 500), 800, 1333), ((1024, 683), 640, 2560),
                                                   ((480, 2000), 640, 1333), ((97, 131), 96, 384)])
def test_size_and_pixels_are_detectron2s(shape, short, max_size):
    image = np.random.default_rng(0).integers(0, 256, (*shape, 3), dtype=np.uint8)
    results = Detectron2ResizeShortestEdge(short, max_size)(dict(img=image))
    new_h, new_w = detectron2_size(*shape, short, max_size)
    assert results['img_shape'] == (new_h, new_w) == results['img'].shape[:2]
    expected = np.asarray(Image.fromarray(image).resize((new_w, new_h), Image.BILINEAR))
    assert np.array_equal(results['img'], expected)


def test_shrinking_antialiases_unlike_cv2():
    image = np.random.default_rng(1).integers(0, 256, (1024, 1536, 3), dtype=np.uint8)
    pillow = Detectron2ResizeShortestEdge(256, 2560)(dict(img=image))['img'].astype(float)
    cv2 = Detectron2ResizeShortestEdge(256, 2560, backend='cv2')(dict(img=image))['img'].astype(float)
    # random pixels averaged over 4x4 windows vary far less than pixels sampled by bilinear interpolation
    assert pillow.std() < 0.6 * cv2.std()


def test_unknown_backend_is_refused():
    with pytest.raises(ValueError, match="backend must be 'pillow' or 'cv2'"):
        Detectron2ResizeShortestEdge(640, 2560, backend='nearest')
