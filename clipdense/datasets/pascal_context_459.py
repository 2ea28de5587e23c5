"""PASCAL Context with its full 459-class vocabulary."""
from mmseg.datasets import BaseSegDataset

from clipdense.registry import DATASETS
from .class_lists import PASCAL_CONTEXT_459_CLASSES
from .utils import check_data_paths, reject_8bit_label_loader


@DATASETS.register_module()
class PascalContext459Dataset(BaseSegDataset):
    """PASCAL Context-459 (every class of the dataset's ``labels.txt``), as SAN/CAT-Seg score it.

    Label maps are uint16 TIFFs ``{name}.tif`` (default folder
    ``VOC2010/annotations_detectron2/pc459_val``) written by
    ``tools/dataset_converters/pascal_context.py --context459``: value ``i`` is
    ``labels.txt`` class ``i + 1`` (0..458), 65535 is ignored. 459 classes do not fit in
    uint8, so the pipeline must load them with ``Load16BitAnnotations`` (mmseg's
    ``LoadAnnotations`` casts to uint8) and the metric must use ``ignore_index=65535``.

    Args:
        ann_file: split list shared with Context-59/60, e.g.
            ``'ImageSets/SegmentationContext/val.txt'``.
        ignore_index: the ignore value in the label maps.
        **kwargs: passed to :class:`mmseg.datasets.BaseSegDataset`.
    """
    METAINFO = dict(classes=PASCAL_CONTEXT_459_CLASSES)

    def __init__(self, ann_file: str = '', img_suffix: str = '.jpg',
                 seg_map_suffix: str = '.tif', ignore_index: int = 65535,
                 **kwargs) -> None:
        super().__init__(ann_file=ann_file, img_suffix=img_suffix,
                         seg_map_suffix=seg_map_suffix, ignore_index=ignore_index,
                         reduce_zero_label=False, **kwargs)
        reject_8bit_label_loader(self)

    def load_data_list(self):
        check_data_paths(
            self, 'Convert PASCAL Context with `python tools/dataset_converters/pascal_context.py '
            'data/VOCdevkit/VOC2010 --mat-dir data/VOCdevkit/VOC2010/trainval --context459`.')
        return super().load_data_list()
