"""Panoptic quality (PQ, SQ, RQ over all classes, things and stuff) of ``pred_panoptic_seg`` against COCO-panoptic
ground truth, computed as panopticapi's ``pq_compute`` does (mmdet's ``CocoPanopticMetric`` needs panopticapi,
which is not on PyPI)."""
from collections import defaultdict
from typing import Dict, Optional, Sequence, Union

import mmcv
import mmengine.fileio as fileio
import numpy as np
from mmdet.evaluation.functional import INSTANCE_OFFSET
from mmengine.evaluator import BaseMetric
from mmengine.logging import MMLogger
from prettytable import PrettyTable

from clipdense.datasets.transforms.panoptic import panoptic_ids
from clipdense.models.clip.vocabulary import Vocabulary
from clipdense.registry import METRICS

VOID = 0  # panopticapi's id of unlabelled pixels, in ground truth and prediction alike
PAIR_OFFSET = 256 * 256 * 256  # the largest COCO-panoptic segment id + 1: (gt, pred) id pairs as one integer


def segments_of_prediction(segment_map: np.ndarray, num_classes: int) -> tuple:
    """An mmdet-encoded panoptic map (stuff = class, thing = class + k·INSTANCE_OFFSET, void = ``num_classes``) →
    (id map with VOID on void pixels, {id: class})."""
    values, ids = np.unique(segment_map, return_inverse=True)
    ids = ids.reshape(segment_map.shape) + 1
    labels = {}
    for index, value in enumerate(values.tolist()):
        if value == num_classes:
            ids[ids == index + 1] = VOID
        else:
            labels[index + 1] = value % INSTANCE_OFFSET
    return ids, labels


def image_panoptic_statistics(gt_ids: np.ndarray, gt_segments: Sequence[dict], pred_ids: np.ndarray,
                              pred_labels: Dict[int, int]) -> Dict[int, np.ndarray]:
    """One image's matching, as panopticapi's ``pq_compute_single_core``: {class: [IoU sum, TP, FP, FN]}.

    A prediction and a non-crowd ground-truth segment of the same class match at IoU > 0.5, the union leaving out
    the prediction's pixels on void; an unmatched ground-truth segment is a FN; an unmatched prediction is a FP
    unless more than half of it lies on void or on a crowd region of its class. ``gt_segments``: dicts with
    ``id``, ``label``, ``iscrowd``."""
    gt = {segment['id']: segment for segment in gt_segments}
    pairs, pair_areas = np.unique(gt_ids * PAIR_OFFSET + pred_ids, return_counts=True)
    intersections = {(int(pair) // PAIR_OFFSET, int(pair) % PAIR_OFFSET): int(area)
                     for pair, area in zip(pairs, pair_areas)}
    gt_area, pred_area = defaultdict(int), defaultdict(int)  # each segment's area: the sum of its intersections
    for (gt_id, pred_id), intersection in intersections.items():
        gt_area[gt_id] += intersection
        pred_area[pred_id] += intersection

    statistics = defaultdict(lambda: np.zeros(4))
    matched_gt, matched_pred = set(), set()
    for (gt_id, pred_id), intersection in intersections.items():
        if gt_id not in gt or pred_id not in pred_labels:
            continue
        segment = gt[gt_id]
        if segment['iscrowd'] or segment['label'] != pred_labels[pred_id]:
            continue
        union = pred_area[pred_id] + gt_area[gt_id] - intersection - intersections.get((VOID, pred_id), 0)
        iou = intersection / union
        if iou > 0.5:
            statistics[segment['label']] += (iou, 1, 0, 0)
            matched_gt.add(gt_id)
            matched_pred.add(pred_id)
    crowd_of_class = {}
    for gt_id, segment in gt.items():
        if segment['iscrowd']:
            crowd_of_class[segment['label']] = gt_id
        elif gt_id not in matched_gt:
            statistics[segment['label']] += (0, 0, 0, 1)
    for pred_id, label in pred_labels.items():
        if pred_id in matched_pred:
            continue
        ignored = intersections.get((VOID, pred_id), 0)
        if label in crowd_of_class:
            ignored += intersections.get((crowd_of_class[label], pred_id), 0)
        if ignored / pred_area[pred_id] > 0.5:
            continue
        statistics[label] += (0, 0, 1, 0)
    return dict(statistics)


@METRICS.register_module()
class PanopticQualityMetric(BaseMetric):
    """PQ, SQ and RQ (percent) over all classes, things and stuff, of each data sample's ``pred_panoptic_seg``
    (mmdet's encoding, as the mask-classification segmentor writes it) against its COCO-panoptic ground truth: the
    PNG at ``seg_map_path`` and the ``segments_info`` in its metainfo (``id``, ``label``: the class index,
    ``iscrowd``), as ``COCOPanopticSegDataset`` lists them; pack ``segments_info`` into the metainfo
    (``PackSegInputs(meta_keys=(..., 'segments_info'))``). A class counts in a mean when it has a TP, FP or FN
    anywhere (panopticapi's ``pq_average``).

    Args:
        thing_classes: the thing classes, as names from ``dataset_meta['classes']`` or a file of them; by default
            the dataset's ``dataset_meta['thing_classes']``. Checked when the metric gets the dataset's meta.
        panoptic_map_key: the sample key of the panoptic PNG's path; by default the dataset meta's
            ``panoptic_map_key`` (``ADE20KPanopticDataset``'s is ``pan_seg_map_path``: its ``seg_map_path`` is the
            semantic map), else ``seg_map_path`` (``COCOPanopticSegDataset``).
    """
    default_prefix: Optional[str] = 'panoptic'

    def __init__(self, thing_classes: Optional[Union[str, Sequence[str]]] = None,
                 panoptic_map_key: Optional[str] = None, backend_args: Optional[dict] = None, **kwargs) -> None:
        super().__init__(**kwargs)
        self.given_panoptic_map_key = panoptic_map_key
        self.thing_names = None if thing_classes is None else Vocabulary.parse(thing_classes).class_names
        self.backend_args = backend_args

    @BaseMetric.dataset_meta.setter
    def dataset_meta(self, dataset_meta: Optional[dict]) -> None:
        BaseMetric.dataset_meta.fset(self, dataset_meta)
        if dataset_meta is not None:
            self.is_thing()  # a typo fails before evaluation, not after it

    @property
    def panoptic_map_key(self) -> str:
        if self.given_panoptic_map_key is not None:
            return self.given_panoptic_map_key
        return (self.dataset_meta or {}).get('panoptic_map_key', 'seg_map_path')

    def is_thing(self) -> np.ndarray:
        """Which of the dataset's classes are things (bool, (classes,))."""
        class_names = list(self.dataset_meta['classes'])
        things = self.thing_names if self.thing_names is not None else self.dataset_meta.get('thing_classes')
        if things is None:
            raise ValueError('PanopticQualityMetric needs thing_classes: the dataset\'s meta has none, so give them '
                             "(e.g. thing_classes=['person', 'car'] or a class-name file)")
        unknown = [name for name in things if name not in class_names]
        if unknown:
            raise ValueError(f'PanopticQualityMetric: thing classes {unknown[:5]} are not classes of the dataset '
                             f'({len(class_names)} classes, e.g. {class_names[:5]})')
        return np.array([name in things for name in class_names])

    def process(self, data_batch: dict, data_samples: Sequence[dict]) -> None:
        num_classes = len(self.dataset_meta['classes'])
        for sample in data_samples:
            if 'segments_info' not in sample:
                raise ValueError('PanopticQualityMetric needs each sample\'s segments_info: add it to the test '
                                 "pipeline's PackSegInputs meta_keys, with a COCOPanopticSegDataset or an "
                                 'ADE20KPanopticDataset')
            if self.panoptic_map_key not in sample:
                raise ValueError(f'PanopticQualityMetric reads the panoptic PNG at each sample\'s '
                                 f'{self.panoptic_map_key}: add it to the test pipeline\'s PackSegInputs meta_keys')
            panoptic_path = sample[self.panoptic_map_key]
            data = fileio.get(panoptic_path, backend_args=self.backend_args)
            gt_ids = panoptic_ids(mmcv.imfrombytes(data, flag='color', channel_order='rgb', backend='cv2'))
            segment_map = sample['pred_panoptic_seg']['data'][0].cpu().numpy()
            if segment_map.shape != gt_ids.shape:
                raise ValueError(f'pred_panoptic_seg is {segment_map.shape}, the ground truth of '
                                 f'{panoptic_path} {gt_ids.shape}: predict at the original image size')
            pred_ids, pred_labels = segments_of_prediction(segment_map, num_classes)
            self.results.append(image_panoptic_statistics(gt_ids, sample['segments_info'], pred_ids, pred_labels))

    def compute_metrics(self, results: list) -> Dict[str, float]:
        class_names = self.dataset_meta['classes']
        is_thing = self.is_thing()
        totals = np.zeros((len(class_names), 4))  # IoU sum, TP, FP, FN per class
        for statistics in results:
            for label, values in statistics.items():
                totals[label] += values
        iou, tp, fp, fn = totals.T
        counted = tp + fp + fn > 0
        denominator = np.maximum(tp + 0.5 * fp + 0.5 * fn, 1e-12)
        per_class = dict(PQ=iou / denominator, SQ=np.where(tp > 0, iou / np.maximum(tp, 1), 0), RQ=tp / denominator)
        metrics, rows = {}, []
        for group, members in (('All', np.ones_like(is_thing)), ('Things', is_thing), ('Stuff', ~is_thing)):
            classes = counted & members
            means = {name: 100 * float(values[classes].mean()) if classes.any() else float('nan')
                     for name, values in per_class.items()}
            suffix = '' if group == 'All' else '_' + group.lower()
            metrics.update({name + suffix: round(value, 2) for name, value in means.items()})
            rows.append([group] + [f'{means[name]:.2f}' for name in ('PQ', 'SQ', 'RQ')] + [int(classes.sum())])
        table = PrettyTable(field_names=['', 'PQ', 'SQ', 'RQ', 'classes'])
        for row in rows:
            table.add_row(row)
        MMLogger.get_current_instance().info('panoptic quality:\n' + table.get_string())
        return metrics
