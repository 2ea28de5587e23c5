"""Mask or box AP against a COCO-format json whose category ids are the dataset's class indices."""
from typing import Dict

import numpy as np
from mmdet.evaluation import CocoMetric

from clipdense.registry import METRICS


@METRICS.register_module()
class ClassIndexCocoMetric(CocoMetric):
    """mmdet's :class:`~mmdet.evaluation.CocoMetric` for a json whose category ids are the indices of the dataset's
    classes, such as ADE20K's instance annotation (``ade20k_instance_val.json`` from Mask2Former's
    ``datasets/prepare_ade20k_ins_seg.py``: the 100 thing categories, each with its index among the 150 classes as
    id). mmdet's metric maps labels to categories by name, which ADE's json spells otherwise than the dataset; here
    a prediction of class ``i`` is category ``i``, and the json's categories are the ones evaluated, as detectron2's
    instance evaluator reads the file. A prediction of a class the json lacks is an error, as it is there.
    Arguments: mmdet's ``CocoMetric``'s; ``ann_file`` is required.
    """

    def __init__(self, ann_file: str, **kwargs) -> None:
        super().__init__(ann_file=ann_file, **kwargs)
        self.ann_file = ann_file

    def compute_metrics(self, results: list) -> Dict[str, float]:
        classes = self.dataset_meta['classes']
        category_ids = sorted(self._coco_api.get_cat_ids())
        foreign = [category_id for category_id in category_ids if not 0 <= category_id < len(classes)]
        if foreign:
            raise ValueError(f'ClassIndexCocoMetric: {self.ann_file} has category ids {foreign[:5]}, which are not '
                             f'class indices of the dataset (0-{len(classes) - 1}): use mmdet.CocoMetric for a '
                             'json whose categories are named as the dataset\'s classes.')
        # mmdet's results2json writes category cat_ids[label]: labels become positions in the json's categories
        self.cat_ids = category_ids
        position = {category_id: index for index, category_id in enumerate(category_ids)}
        for _, prediction in results:
            missing = sorted(set(prediction['labels'].tolist()) - set(position))
            if missing:
                raise ValueError(f'ClassIndexCocoMetric: predictions of {[classes[label] for label in missing][:5]}, '
                                 f'which {self.ann_file} has no category for: predict instances of its classes only '
                                 '(for a mask-classification model, model.test_cfg.thing_classes).')
            prediction['labels'] = np.array([position[label] for label in prediction['labels'].tolist()],
                                            dtype=np.int64)
        return super().compute_metrics(results)
