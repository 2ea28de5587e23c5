"""COCO-Object: background plus the 80 COCO thing classes, on COCO-Stuff-164k's folders."""
from mmseg.datasets import BaseSegDataset, COCOStuffDataset

from clipdense.registry import DATASETS
from .utils import check_data_paths


@DATASETS.register_module()
class COCOObjectDataset(BaseSegDataset):
    """COCO-Object (81 classes: background + the 80 COCO things), as GroupViT/TCL/SCLIP use.

    Label maps are ``{name}_instanceTrainIds.png`` written by
    ``tools/dataset_converters/coco_object.py`` next to the COCO-Stuff-164k annotations:
    0 = background (every stuff class and unlabelled pixel), 1..80 = things in COCO
    category-id order. Typical prefixes: ``images/val2017`` and ``annotations/val2017``.

    Args:
        reduce_zero_label: keep False: the background is a scored class here.
        **kwargs: passed to :class:`mmseg.datasets.BaseSegDataset`.
    """
    METAINFO = dict(
        classes=('background', ) + tuple(COCOStuffDataset.METAINFO['classes'][:80]),
        palette=[[0, 0, 0]] + list(COCOStuffDataset.METAINFO['palette'][:80]))

    def __init__(self, img_suffix: str = '.jpg',
                 seg_map_suffix: str = '_instanceTrainIds.png',
                 reduce_zero_label: bool = False, **kwargs) -> None:
        super().__init__(img_suffix=img_suffix, seg_map_suffix=seg_map_suffix,
                         reduce_zero_label=reduce_zero_label, **kwargs)

    def load_data_list(self):
        check_data_paths(
            self, 'Convert COCO-Stuff-164k with '
            '`python tools/dataset_converters/coco_object.py data/coco_stuff164k`.')
        return super().load_data_list()
