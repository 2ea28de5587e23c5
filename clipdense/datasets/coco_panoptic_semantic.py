"""COCO panoptic's 133 classes as semantic label maps (what FC-CLIP and Mask2Former evaluate mIoU on)."""
from mmdet.datasets import CocoPanopticDataset
from mmseg.datasets import BaseSegDataset

from clipdense.registry import DATASETS
from .utils import check_data_paths


@DATASETS.register_module()
class COCOPanopticSemanticDataset(BaseSegDataset):
    """COCO panoptic 2017 read as semantic segmentation: 133 classes (80 things, then 53 stuff, mmdet's
    ``CocoPanopticDataset`` order), label maps with the contiguous class index per pixel and 255 for void and crowd
    regions, as detectron2's ``datasets/prepare_coco_semantic_annos_from_panoptic_annos.py`` writes them
    (``panoptic_semseg_{train,val}2017/*.png``; FC-CLIP and Mask2Former ship that script). Typical prefixes:
    ``img_path='train2017'``, ``seg_map_path='panoptic_semseg_train2017'``.
    """
    METAINFO = dict(classes=CocoPanopticDataset.METAINFO['classes'], palette=CocoPanopticDataset.METAINFO['palette'])

    def __init__(self, img_suffix: str = '.jpg', seg_map_suffix: str = '.png', reduce_zero_label: bool = False,
                 **kwargs) -> None:
        super().__init__(img_suffix=img_suffix, seg_map_suffix=seg_map_suffix, reduce_zero_label=reduce_zero_label,
                         **kwargs)

    def load_data_list(self):
        check_data_paths(self, 'Write the semantic maps from the panoptic annotations with detectron2\'s '
                               '`datasets/prepare_coco_semantic_annos_from_panoptic_annos.py` (in FC-CLIP\'s repo).')
        return super().load_data_list()
