"""The synthetic world's semantic segmentation dataset (ADE20K-style files)."""
import colorsys

from mmseg.datasets import BaseSegDataset

from clipdense.registry import DATASETS
from .vocabulary import CLASSES, COLOUR_HSV, SEEN_CLASSES, SHAPES, UNSEEN_CLASSES


def _palette():
    """Each class drawn in its own colour, darker for later shapes so shapes stay apart."""
    palette = []
    for name in CLASSES:
        colour, shape = name.split(' ')
        hue, sat, _ = COLOUR_HSV[colour]
        val = 1.0 - 0.5 * SHAPES.index(shape) / (len(SHAPES) - 1)
        palette.append([round(255 * c) for c in colorsys.hsv_to_rgb(hue / 360, sat, val)])
    return palette


@DATASETS.register_module()
class SyntheticWorldDataset(BaseSegDataset):
    """Scenes of coloured shapes written by ``tools/make_synthetic_world.py``.

    64 classes ``'<colour> <shape>'``; 16 of them (``metainfo['unseen_classes']``) never appear in
    the training split, for zero-shot evaluation. Files follow ADE20K: ``images/<split>/*.png``
    and ``annotations/<split>/*.png`` with 0 = background and c + 1 = class c, so
    ``reduce_zero_label=True`` maps background to 255 (ignored) and classes to 0..63.
    """
    METAINFO = dict(classes=CLASSES, palette=_palette(), seen_classes=SEEN_CLASSES,
                    unseen_classes=UNSEEN_CLASSES)

    def __init__(self, img_suffix: str = '.png', seg_map_suffix: str = '.png',
                 reduce_zero_label: bool = True, **kwargs) -> None:
        super().__init__(img_suffix=img_suffix, seg_map_suffix=seg_map_suffix,
                         reduce_zero_label=reduce_zero_label, **kwargs)
