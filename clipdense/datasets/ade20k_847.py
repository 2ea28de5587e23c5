"""ADE20K-full with its 847-class vocabulary."""
from mmseg.datasets import BaseSegDataset

from clipdense.registry import DATASETS
from .class_lists import ADE20K_847_CLASSES
from .utils import check_data_paths, reject_8bit_label_loader


@DATASETS.register_module()
class ADE20K847Dataset(BaseSegDataset):
    """ADE20K-847 (ADE20K-full, ``ADE20K_2021_17_01``), as SAN/CAT-Seg prepare and score it.

    Label maps are uint16 TIFFs ``{name}.tif`` under
    ``annotations_detectron2/{training,validation}`` written by
    ``tools/dataset_converters/ade20k_847.py``: 0..846 = train ids (the order of
    ``METAINFO['classes']``), 65535 = ignored. Load them with ``Load16BitAnnotations``
    (mmseg's ``LoadAnnotations`` casts to uint8) and score with ``ignore_index=65535``.

    Args:
        ignore_index: the ignore value in the label maps.
        **kwargs: passed to :class:`mmseg.datasets.BaseSegDataset`; typical prefixes
            ``images_detectron2/validation`` and ``annotations_detectron2/validation``.
    """
    METAINFO = dict(classes=ADE20K_847_CLASSES)

    def __init__(self, img_suffix: str = '.jpg', seg_map_suffix: str = '.tif',
                 ignore_index: int = 65535, **kwargs) -> None:
        super().__init__(img_suffix=img_suffix, seg_map_suffix=seg_map_suffix,
                         ignore_index=ignore_index, reduce_zero_label=False, **kwargs)
        reject_8bit_label_loader(self)

    def load_data_list(self):
        check_data_paths(
            self, 'Convert ADE20K-full with '
            '`python tools/dataset_converters/ade20k_847.py data/ADE20K_2021_17_01`.')
        return super().load_data_list()
