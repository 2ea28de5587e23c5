"""PASCAL VOC 2012 without its background class (VOC-20)."""
from mmseg.datasets import PascalVOCDataset

from clipdense.registry import DATASETS
from .utils import check_data_paths


@DATASETS.register_module()
class PascalVOC20Dataset(PascalVOCDataset):
    """PASCAL VOC 2012 segmentation, scored on its 20 object classes only.

    Reads the VOC layout (``JPEGImages/``, ``SegmentationClass/`` palette PNGs, a split
    list) like :class:`mmseg.datasets.PascalVOCDataset`. Labels 1..20 become 0..19 through
    ``reduce_zero_label=True`` and the background (0) joins the VOC border (255) as ignored.

    Args:
        ann_file: split list, e.g. ``'ImageSets/Segmentation/val.txt'``.
        reduce_zero_label: keep True; False would score the background as class 0.
        **kwargs: passed to :class:`mmseg.datasets.BaseSegDataset`.
    """
    METAINFO = dict(
        classes=PascalVOCDataset.METAINFO['classes'][1:],
        palette=PascalVOCDataset.METAINFO['palette'][1:])

    def __init__(self, ann_file: str, img_suffix: str = '.jpg', seg_map_suffix: str = '.png',
                 reduce_zero_label: bool = True, **kwargs) -> None:
        super().__init__(ann_file=ann_file, img_suffix=img_suffix,
                         seg_map_suffix=seg_map_suffix, reduce_zero_label=reduce_zero_label,
                         **kwargs)

    def load_data_list(self):
        check_data_paths(self, 'Download VOC 2012 (VOCdevkit/VOC2012).')
        return super().load_data_list()
