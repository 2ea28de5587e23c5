"""PanopticQualityMetric: PQ / SQ / RQ as panopticapi's pq_compute scores them, checked on a case counted by hand
(a match, a miss at IoU exactly 0.5, a prediction on a crowd region, void pixels left out of the union), on random
cases against a rewrite of panopticapi's per-image loop, and through the FC-CLIP COCO config's evaluator."""
from collections import defaultdict

import numpy as np
import pytest
import torch

from clipdense.datasets.writers import write_panoptic_png
from clipdense.evaluation import PanopticQualityMetric
from clipdense.evaluation.panoptic_quality_metric import image_panoptic_statistics, segments_of_prediction
from clipdense.models.heads.mask_classification import INSTANCE_OFFSET

CLASSES = ('person', 'car', 'sky')
VOID_PREDICTION = len(CLASSES)


def hand_case():
    """8x8 ground truth: persons 1001 (rows 0-3, cols 0-3) and 1002 (rows 0-3, cols 4-7), sky 2003 (rows 4-6, cols
    0-5) over a void row 7, a crowd of cars 3004 (rows 4-7, cols 6-7). The prediction: a person on 12 of 1001's 16
    pixels (IoU 0.75: TP), a person on 8 of 1002's (IoU 0.5, not above: FN and FP), sky on rows 4-7 cols 0-5 (its
    6 void pixels leave the union: IoU 1), a car on the crowd (ignored), void elsewhere."""
    gt = np.zeros((8, 8), dtype=np.int64)
    gt[0:4, 0:4], gt[0:4, 4:8], gt[4:7, 0:6], gt[4:8, 6:8] = 1001, 1002, 2003, 3004
    segments = [dict(id=1001, label=0, iscrowd=0), dict(id=1002, label=0, iscrowd=0),
                dict(id=2003, label=2, iscrowd=0), dict(id=3004, label=1, iscrowd=1)]
    prediction = np.full((8, 8), VOID_PREDICTION, dtype=np.int32)
    prediction[0:4, 0:3] = 0 + 1 * INSTANCE_OFFSET
    prediction[0:2, 4:8] = 0 + 2 * INSTANCE_OFFSET
    prediction[4:8, 0:6] = 2
    prediction[4:8, 6:8] = 1 + 1 * INSTANCE_OFFSET
    return gt, segments, prediction


def test_a_hand_counted_image():
    gt, segments, prediction = hand_case()
    statistics = image_panoptic_statistics(gt, segments, *segments_of_prediction(prediction, VOID_PREDICTION))
    assert set(statistics) == {0, 2}  # the car on the crowd is neither a TP nor a FP
    assert statistics[0].tolist() == [0.75, 1, 1, 1] and statistics[2].tolist() == [1.0, 1, 0, 0]


def test_the_metric_reads_the_png_and_averages_things_and_stuff(tmp_path):
    gt, segments, prediction = hand_case()
    write_panoptic_png(str(tmp_path / 'gt.png'), gt)
    metric = PanopticQualityMetric(thing_classes=['person', 'car'])
    metric.dataset_meta = dict(classes=CLASSES)
    metric.process({}, [dict(seg_map_path=str(tmp_path / 'gt.png'), segments_info=segments,
                             pred_panoptic_seg=dict(data=torch.from_numpy(prediction)[None]))])
    result = metric.evaluate(1)
    # person: PQ 0.75 / (1 + 0.5 + 0.5), SQ 0.75, RQ 0.5; sky: 1, 1, 1; the car has no TP, FP or FN: not counted
    assert result == pytest.approx({'panoptic/PQ': 68.75, 'panoptic/SQ': 87.5, 'panoptic/RQ': 75.0,
                                    'panoptic/PQ_things': 37.5, 'panoptic/SQ_things': 75.0, 'panoptic/RQ_things': 50.0,
                                    'panoptic/PQ_stuff': 100.0, 'panoptic/SQ_stuff': 100.0, 'panoptic/RQ_stuff': 100.0})


def panopticapi_single_image(gt_ids, gt_segms, pred_ids, pred_segms):
    """panopticapi's ``pq_compute_single_core`` body for one image, step by step (areas counted from the maps):
    {category: [iou, tp, fp, fn]}."""
    void, offset = 0, 256 * 256 * 256
    gt_segms = {k: dict(v) for k, v in gt_segms.items()}
    pred_segms = {k: dict(v) for k, v in pred_segms.items()}
    for segms, ids in ((gt_segms, gt_ids), (pred_segms, pred_ids)):
        for label in segms:
            segms[label]['area'] = int((ids == label).sum())
    labels, counts = np.unique(gt_ids.astype(np.uint64) * offset + pred_ids.astype(np.uint64), return_counts=True)
    gt_pred_map = {(int(label) // offset, int(label) % offset): int(count) for label, count in zip(labels, counts)}
    stat = defaultdict(lambda: [0.0, 0, 0, 0])
    gt_matched, pred_matched = set(), set()
    for label_tuple, intersection in gt_pred_map.items():
        gt_label, pred_label = label_tuple
        if gt_label not in gt_segms or pred_label not in pred_segms:
            continue
        if gt_segms[gt_label]['iscrowd'] == 1:
            continue
        if gt_segms[gt_label]['category_id'] != pred_segms[pred_label]['category_id']:
            continue
        union = pred_segms[pred_label]['area'] + gt_segms[gt_label]['area'] - intersection - \
            gt_pred_map.get((void, pred_label), 0)
        iou = intersection / union
        if iou > 0.5:
            stat[gt_segms[gt_label]['category_id']][1] += 1
            stat[gt_segms[gt_label]['category_id']][0] += iou
            gt_matched.add(gt_label)
            pred_matched.add(pred_label)
    crowd_labels_dict = {}
    for gt_label, gt_info in gt_segms.items():
        if gt_label in gt_matched:
            continue
        if gt_info['iscrowd'] == 1:
            crowd_labels_dict[gt_info['category_id']] = gt_label
            continue
        stat[gt_info['category_id']][3] += 1
    for pred_label, pred_info in pred_segms.items():
        if pred_label in pred_matched:
            continue
        intersection = gt_pred_map.get((void, pred_label), 0)
        if pred_info['category_id'] in crowd_labels_dict:
            intersection += gt_pred_map.get((crowd_labels_dict[pred_info['category_id']], pred_label), 0)
        if intersection / pred_info['area'] > 0.5:
            continue
        stat[pred_info['category_id']][2] += 1
    return {category: values for category, values in stat.items()}


def test_random_images_score_as_panopticapi():
    rng = np.random.default_rng(0)
    checked = 0
    for _ in range(30):
        # coarse random layouts upsampled; 4 classes
        num_classes = 4
        gt_cells = rng.integers(0, 7, (4, 5))
        gt = np.kron(gt_cells, np.ones((4, 4), dtype=np.int64)) * 1000 + 7
        gt[rng.random(gt.shape) < 0.05] = 0  # void pixels
        segments = [dict(id=int(segment), label=int(rng.integers(num_classes)), iscrowd=int(rng.random() < 0.2))
                    for segment in np.unique(gt) if segment != 0]
        # the prediction: the ground-truth layout shifted by up to 2 pixels, most segments with their own class
        shifted = np.roll(gt, shift=(int(rng.integers(3)), int(rng.integers(3))), axis=(0, 1))
        prediction = np.full(gt.shape, num_classes, dtype=np.int64)  # void where the shifted layout is void
        for index, segment in enumerate(segments):
            label = segment['label'] if rng.random() < 0.7 else int(rng.integers(num_classes + 1))
            instance = (index + 1) * INSTANCE_OFFSET if label < 2 else 0  # classes 0 and 1 are things
            prediction[shifted == segment['id']] = num_classes if label == num_classes else label + instance
        pred_ids, pred_labels = segments_of_prediction(prediction, num_classes)
        ours = image_panoptic_statistics(gt, segments, pred_ids, pred_labels)
        expected = panopticapi_single_image(
            gt, {s['id']: dict(category_id=s['label'], iscrowd=s['iscrowd']) for s in segments}, pred_ids,
            {pred_id: dict(category_id=label) for pred_id, label in pred_labels.items()})
        assert set(ours) == set(expected)
        for category, values in expected.items():
            assert ours[category] == pytest.approx(values)
        checked += sum(values[1] for values in expected.values())
    assert checked > 20  # the cases hold true positives, not only misses


def test_thing_classes_come_from_the_dataset_or_are_checked():
    metric = PanopticQualityMetric()
    metric.dataset_meta = dict(classes=CLASSES, thing_classes=['person', 'car'])
    assert metric.is_thing().tolist() == [True, True, False]
    with pytest.raises(ValueError, match="needs thing_classes: the dataset's meta has none"):
        metric.dataset_meta = dict(classes=CLASSES)
    metric = PanopticQualityMetric(thing_classes=['person', 'bicycle'])
    with pytest.raises(ValueError, match=r"thing classes \['bicycle'\] are not classes of the dataset"):
        metric.dataset_meta = dict(classes=CLASSES, thing_classes=['person'])


def test_a_sample_without_segments_info_is_named():
    metric = PanopticQualityMetric(thing_classes=['person'])
    metric.dataset_meta = dict(classes=CLASSES)
    with pytest.raises(ValueError, match="segments_info: add it to the test pipeline's PackSegInputs meta_keys"):
        metric.process({}, [dict(seg_map_path='x.png', pred_panoptic_seg=dict(data=torch.zeros(1, 2, 2)))])


def test_a_sample_without_the_datasets_panoptic_map_is_named():
    """A dataset whose seg_map_path is a semantic map (ADE20KPanopticDataset) names its panoptic PNG's key in its
    meta; a sample without that key fails instead of scoring the semantic map as panoptic."""
    metric = PanopticQualityMetric(thing_classes=['person'])
    metric.dataset_meta = dict(classes=CLASSES, panoptic_map_key='pan_seg_map_path')
    sample = dict(seg_map_path='semantic.png', segments_info=[], pred_panoptic_seg=dict(data=torch.zeros(1, 2, 2)))
    with pytest.raises(ValueError, match="panoptic PNG at each sample's pan_seg_map_path: add it to the test "
                                         "pipeline's PackSegInputs meta_keys"):
        metric.process({}, [sample])
