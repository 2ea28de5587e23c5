"""The synthetic world's detection / instance segmentation dataset (COCO json)."""
from mmdet.datasets import CocoDataset

from clipdense.registry import DATASETS
from .dataset import SyntheticWorldDataset


@DATASETS.register_module()
class SyntheticWorldDetDataset(CocoDataset):
    """COCO-style instances of the synthetic world (``annotations/instances_{train,val}.json``).

    Category ``id = class id + 1`` and each category carries ``'split': 'base'`` or ``'novel'``;
    novel (unseen) categories have no instance in the training json, as in OV-COCO.
    """
    METAINFO = dict(classes=SyntheticWorldDataset.METAINFO['classes'],
                    palette=SyntheticWorldDataset.METAINFO['palette'],
                    base_classes=SyntheticWorldDataset.METAINFO['seen_classes'],
                    novel_classes=SyntheticWorldDataset.METAINFO['unseen_classes'])
