"""OV-COCO: COCO 2017 detection on OVR-CNN's 65 categories (48 base, 17 novel)."""
from typing import List

from mmdet.datasets import CocoDataset

from clipdense.registry import DATASETS
from .ov_splits import (COCO_CATEGORY_IDS, OV_COCO_BASE_CLASSES, OV_COCO_CLASSES, OV_COCO_IDS,
                        OV_COCO_NOVEL_CLASSES, OVAnnotationError)


@DATASETS.register_module()
class OVCocoDataset(CocoDataset):
    """mmdet's ``CocoDataset`` on the jsons of ``tools/dataset_converters/ov_coco.py``
    (``annotations/instances_train2017_ov_base.json``, ``annotations/instances_val2017_ov65.json``).

    Classes are the 65 categories in COCO id order, whichever json is read: both jsons list the same 65, and mmdet
    maps category ids to labels by these names, so base classes have the same label in training and testing.
    ``base_classes`` / ``novel_classes`` (names) tell ``OVCocoMetric`` and the detectors the split, under the keys
    of ``SyntheticWorldDetDataset``.
    """
    METAINFO = dict(classes=OV_COCO_CLASSES,
                    palette=[CocoDataset.METAINFO['palette'][COCO_CATEGORY_IDS.index(i)] for i in OV_COCO_IDS],
                    base_classes=OV_COCO_BASE_CLASSES,
                    novel_classes=OV_COCO_NOVEL_CLASSES)

    def load_data_list(self) -> List[dict]:
        data_list = super().load_data_list()
        # mmdet skips annotations of categories outside the classes; on COCO's own json that would quietly test
        # on the 5,000 images, some showing only excluded categories, instead of the protocol's 4,836.
        others = sorted(set(self.cat_img_map) - set(self.cat_ids))
        if others:
            raise OVAnnotationError(
                f'{self.ann_file} annotates categories outside OV-COCO\'s 65 (ids {others[:5]}'
                f'{", ..." if len(others) > 5 else ""}); is it COCO\'s own json? Write the OV-COCO jsons with '
                '`python tools/dataset_converters/ov_coco.py data/coco/annotations` (docs/datasets.md).')
        return data_list
