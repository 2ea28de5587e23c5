"""OpenVocabIoUMetric scores seen and unseen classes apart, checked against a confusion matrix counted by hand.

Two tiny label maps with ignored pixels over six classes: ``bus`` is neither in the ground truth nor predicted
(nan IoU, left out of the means), ``tree`` is predicted once but absent from the ground truth (IoU 0, counted).
"""
import datetime
import glob
import os
import pickle
import warnings

import numpy as np
import pytest
import torch
import torch.distributed as dist
import torch.multiprocessing as mp
from mmengine.config import Config
from mmengine.evaluator import Evaluator
from mmengine.structures import PixelData
from mmseg.structures import SegDataSample

from clipdense.evaluation import OpenVocabIoUMetric, open_vocab_iou_metric
from clipdense.registry import METRICS, register_all_modules

CLASSES = ('sky', 'road', 'cat', 'dog', 'bus', 'tree')
UNSEEN = ['cat', 'bus', 'tree']
IGNORE = 255
CONFIGS = os.path.join(os.path.dirname(os.path.dirname(os.path.abspath(__file__))), 'configs')
# (ground truth, prediction); the prediction under an ignored pixel must not count.
IMAGE_A = ([[0, 0, 0, 0],
            [1, 1, 2, 2],
            [1, 1, 2, IGNORE]],
           [[0, 0, 0, 5],
            [1, 1, 2, 3],
            [1, 2, 2, 0]])
IMAGE_B = ([[3, 3, 0],
            [3, IGNORE, 1]],
           [[3, 2, 0],
            [3, 3, 1]])
IMAGES = [IMAGE_A, IMAGE_B]
# Counted by hand: rows are ground truth, columns prediction (sky road cat dog bus tree).
CONFUSION = np.array([[4, 0, 0, 0, 0, 1],   # sky: 3 right in A, 1 in B; 1 taken for tree in A
                      [0, 4, 1, 0, 0, 0],   # road: 3 right in A, 1 in B; 1 taken for cat in A
                      [0, 0, 2, 1, 0, 0],   # cat (A): 2 right, 1 taken for dog
                      [0, 0, 1, 2, 0, 0],   # dog (B): 2 right, 1 taken for cat
                      [0, 0, 0, 0, 0, 0],   # bus: nowhere
                      [0, 0, 0, 0, 0, 0]])  # tree: predicted once, never in the ground truth
# IoU = diagonal / (row + column - diagonal): sky 4/5, road 4/5, cat 2/5, dog 2/4, bus 0/0, tree 0/1.
EXPECTED_IOU = [0.8, 0.8, 0.4, 0.5, np.nan, 0.0]
SEEN_MIOU = (0.8 + 0.8 + 0.5) / 3  # sky, road, dog
UNSEEN_MIOU = (0.4 + 0.0) / 2  # cat, tree; bus has no IoU
HARMONIC_MIOU = 2 * SEEN_MIOU * UNSEEN_MIOU / (SEEN_MIOU + UNSEEN_MIOU)


def segmentation_sample(ground_truth, prediction, img_path='image.jpg'):
    sample = SegDataSample(metainfo=dict(img_path=img_path))
    sample.gt_sem_seg = PixelData(data=torch.tensor([ground_truth]))
    sample.pred_sem_seg = PixelData(data=torch.tensor([prediction]))
    return sample


def evaluate(metric, images=IMAGES, classes=CLASSES):
    """Run ``metric`` through mmengine's Evaluator, as the test loop does."""
    evaluator = Evaluator(metric)
    evaluator.dataset_meta = dict(classes=classes)
    evaluator.process([segmentation_sample(*image) for image in images])
    return evaluator.evaluate(len(images))


def test_the_confusion_matrix_is_counted_right():
    counted = np.zeros_like(CONFUSION)
    for ground_truth, prediction in IMAGES:
        ground_truth, prediction = np.array(ground_truth), np.array(prediction)
        valid = ground_truth != IGNORE
        np.add.at(counted, (ground_truth[valid], prediction[valid]), 1)
    np.testing.assert_array_equal(counted, CONFUSION)
    intersection = np.diag(CONFUSION)
    with np.errstate(invalid='ignore'):
        iou = intersection / (CONFUSION.sum(0) + CONFUSION.sum(1) - intersection)
    np.testing.assert_allclose(iou, EXPECTED_IOU)


@pytest.mark.parametrize('unseen_classes', [UNSEEN, [2, 4, 5], ['cat', 4, 'tree']],
                         ids=['names', 'indices', 'mixed'])
def test_seen_unseen_and_harmonic_miou(unseen_classes):
    results = evaluate(OpenVocabIoUMetric(unseen_classes=unseen_classes, ignore_index=IGNORE))
    assert set(results) == {'aAcc', 'mIoU', 'mIoU_seen', 'mIoU_unseen', 'hIoU', 'mAcc'}
    expected = {
        'aAcc': 100 * np.trace(CONFUSION) / CONFUSION.sum(),  # 12 / 16
        'mIoU': 100 * (0.8 + 0.8 + 0.4 + 0.5 + 0.0) / 5,
        'mIoU_seen': 100 * SEEN_MIOU,
        'mIoU_unseen': 100 * UNSEEN_MIOU,
        'hIoU': 100 * HARMONIC_MIOU,  # 31.11
        'mAcc': 100 * (4 / 5 + 4 / 5 + 2 / 3 + 2 / 3) / 4,  # bus and tree have no ground truth pixel
    }
    for name, value in expected.items():
        assert results[name] == pytest.approx(round(value, 2), abs=1e-4), name


def test_unseen_classes_from_a_class_name_file(tmp_path):
    path = tmp_path / 'unseen.txt'
    path.write_text('cat\nbus\ntree\n')
    from_file = evaluate(OpenVocabIoUMetric(unseen_classes=str(path), ignore_index=IGNORE))
    assert from_file == evaluate(OpenVocabIoUMetric(unseen_classes=UNSEEN, ignore_index=IGNORE))


@pytest.mark.parametrize('unseen_classes', [None, []])
def test_all_classes_seen(unseen_classes):
    with warnings.catch_warnings():
        warnings.simplefilter('error', RuntimeWarning)  # no 'mean of empty slice' from the empty unseen group
        results = evaluate(OpenVocabIoUMetric(unseen_classes=unseen_classes))
    assert results['mIoU_seen'] == results['mIoU'] == pytest.approx(50.0)
    assert np.isnan(results['mIoU_unseen'])
    assert np.isnan(results['hIoU'])


def test_nan_to_num_counts_absent_classes():
    results = evaluate(OpenVocabIoUMetric(unseen_classes=UNSEEN, nan_to_num=0))
    assert results['mIoU_unseen'] == pytest.approx(round(100 * (0.4 + 0 + 0) / 3, 2), abs=1e-4)  # bus now 0
    assert results['mIoU'] == pytest.approx(round(100 * 2.5 / 6, 2), abs=1e-4)


def test_ground_truth_classes_only_leaves_predicted_absent_classes_out():
    """detectron2's rule (FC-CLIP, SAN): tree, predicted once but never in the ground truth, has no IoU."""
    results = evaluate(OpenVocabIoUMetric(unseen_classes=UNSEEN, ignore_index=IGNORE,
                                          ground_truth_classes_only=True))
    assert results['mIoU'] == pytest.approx(round(100 * (0.8 + 0.8 + 0.4 + 0.5) / 4, 2), abs=1e-4)
    assert results['mIoU_seen'] == pytest.approx(round(100 * SEEN_MIOU, 2), abs=1e-4)
    assert results['mIoU_unseen'] == pytest.approx(40.0)  # cat alone
    assert results['mAcc'] == pytest.approx(round(100 * (4 / 5 + 4 / 5 + 2 / 3 + 2 / 3) / 4, 2), abs=1e-4)
    with_zeros = evaluate(OpenVocabIoUMetric(unseen_classes=UNSEEN, ground_truth_classes_only=True, nan_to_num=0))
    assert with_zeros == evaluate(OpenVocabIoUMetric(unseen_classes=UNSEEN, nan_to_num=0))


def test_harmonic_miou_is_zero_when_both_splits_are_zero():
    everything_wrong = ([[0, 1]], [[1, 0]])
    results = evaluate(OpenVocabIoUMetric(unseen_classes=['road']), images=[everything_wrong],
                       classes=('sky', 'road'))
    assert results['mIoU_seen'] == results['mIoU_unseen'] == 0
    assert results['hIoU'] == 0


@pytest.mark.parametrize('bad_entry, message', [('kat', "unknown class 'kat'"),
                                                (6, 'class index 6 is out of range'),
                                                (-1, 'class index -1 is out of range')])
def test_a_bad_unseen_class_fails_as_soon_as_the_classes_are_known(bad_entry, message):
    metric = OpenVocabIoUMetric(unseen_classes=['cat', bad_entry])
    with pytest.raises(ValueError, match=message) as error:
        metric.dataset_meta = dict(classes=CLASSES)
    assert "6 classes are 0: 'sky', 1: 'road', 2: 'cat', 3: 'dog', 4: 'bus', 5: 'tree'" in str(error.value)


def test_logs_each_class_split_and_the_summary(monkeypatch):
    messages = []
    monkeypatch.setattr(open_vocab_iou_metric, 'print_log', lambda message, logger: messages.append(message))
    evaluate(OpenVocabIoUMetric(unseen_classes=UNSEEN))
    logged = '\n'.join(messages)
    rows = {cells[0]: cells[1:] for cells in (
        [cell.strip() for cell in line.strip('|').split('|')] for line in logged.splitlines() if line.startswith('|'))}
    assert rows['Class'][:2] == ['Split', 'IoU']
    assert rows['cat'][:2] == ['unseen', '40.0']
    assert rows['dog'][:2] == ['seen', '50.0']
    assert rows['aAcc'] == ['mIoU', 'mIoU_seen', 'mIoU_unseen', 'hIoU']
    assert 'open-vocabulary summary (3 seen, 3 unseen classes)' in logged


def test_format_only_writes_predictions_without_scoring(tmp_path):
    metric = OpenVocabIoUMetric(unseen_classes=UNSEEN, format_only=True, output_dir=str(tmp_path))
    evaluator = Evaluator(metric)
    evaluator.dataset_meta = dict(classes=CLASSES)
    evaluator.process([segmentation_sample(*IMAGE_A, img_path='dir/a.jpg')])
    assert evaluator.evaluate(1) == {}
    assert (tmp_path / 'a.png').is_file()


def test_builds_from_a_config_in_the_clipdense_scope():
    register_all_modules()
    metric = METRICS.build(dict(type='OpenVocabIoUMetric', unseen_classes=UNSEEN))
    assert isinstance(metric, OpenVocabIoUMetric) and metric.unseen_classes == UNSEEN
    # the runner's path: mmengine's Evaluator builds metric configs in the current (clipdense) scope
    results = evaluate(dict(type='OpenVocabIoUMetric', unseen_classes=UNSEEN))
    assert results['hIoU'] == pytest.approx(round(100 * HARMONIC_MIOU, 2), abs=1e-4)


def _evaluate_on_rank(rank, world_size, work_dir):
    """One process of a gloo group: score this rank's shard of IMAGES and save the (broadcast) result."""
    os.chdir(work_dir)  # mmengine gathers the ranks' results through a '.dist_test' folder in the current one
    dist.init_process_group('gloo', init_method=f'file://{work_dir}/rendezvous', rank=rank,
                            world_size=world_size, timeout=datetime.timedelta(seconds=30))
    try:
        metric = OpenVocabIoUMetric(unseen_classes=UNSEEN)
        metric.dataset_meta = dict(classes=CLASSES)
        # shard as mmengine's DefaultSampler does: rank r takes samples r, r + world_size, ...
        shard = [segmentation_sample(*image).to_dict() for image in IMAGES[rank::world_size]]
        metric.process({}, shard)
        with open(f'{work_dir}/result_{rank}.pkl', 'wb') as file:
            pickle.dump(metric.evaluate(len(IMAGES)), file)
    finally:
        dist.destroy_process_group()


def test_two_processes_score_like_one(tmp_path):
    world_size = 2
    mp.spawn(_evaluate_on_rank, args=(world_size, str(tmp_path)), nprocs=world_size, join=True)
    single_process = evaluate(OpenVocabIoUMetric(unseen_classes=UNSEEN))
    for rank in range(world_size):
        with open(tmp_path / f'result_{rank}.pkl', 'rb') as file:
            np.testing.assert_equal(pickle.load(file), single_process)


def write_instance_json(path, category_ids):
    """A COCO-format instance json: one 4x4 image with one 2x2 square per category."""
    import json
    import pycocotools.mask as mask_utils
    annotations = []
    for category_id in category_ids:
        mask = np.zeros((4, 4), dtype=np.uint8)
        mask[:2, :2] = 1
        rle = mask_utils.encode(np.asfortranarray(mask))
        annotations.append(dict(id=len(annotations) + 1, image_id='a', category_id=category_id, iscrowd=0, area=4.0,
                                bbox=[0, 0, 2, 2], segmentation=dict(size=rle['size'], counts=rle['counts'].decode())))
    with open(path, 'w') as f:
        json.dump(dict(images=[dict(id='a', file_name='a.jpg', height=4, width=4)], annotations=annotations,
                       categories=[dict(id=category_id, name=f'other name {category_id}') for category_id in
                                   category_ids]), f)


def predictions(labels):
    from mmdet.structures.mask import mask2bbox
    from mmengine.structures import InstanceData
    masks = torch.zeros(len(labels), 4, 4, dtype=torch.bool)
    masks[:, :2, :2] = True
    return dict(img_id='a', ori_shape=(4, 4), pred_instances=InstanceData(
        masks=masks, labels=torch.tensor(labels), scores=torch.ones(len(labels)), bboxes=mask2bbox(masks)))


def test_class_index_coco_metric_takes_category_ids_as_class_indices(tmp_path):
    """A json with categories 1 and 3 of a 4-class dataset, named otherwise: class i is category i, the json's
    categories are the ones evaluated (per class too), and a class the json lacks is named."""
    register_all_modules()
    write_instance_json(tmp_path / 'instances.json', [1, 3])
    metric = METRICS.build(dict(type='ClassIndexCocoMetric', ann_file=str(tmp_path / 'instances.json'),
                                metric='segm', classwise=True))
    metric.dataset_meta = dict(classes=('wall', 'person', 'sky', 'car'))
    metric.process({}, [predictions([1, 3])])
    assert metric.evaluate(1)['coco/segm_mAP'] == 1.0
    metric.process({}, [predictions([3])])  # the person is missed
    assert metric.evaluate(1)['coco/segm_mAP'] == 0.5
    metric.process({}, [predictions([1, 2])])
    with pytest.raises(ValueError, match=r"predictions of \['sky'\], which .*instances.json has no category for"):
        metric.evaluate(1)


def test_class_index_coco_metric_names_a_json_of_other_ids(tmp_path):
    register_all_modules()
    write_instance_json(tmp_path / 'instances.json', [1, 7])
    metric = METRICS.build(dict(type='ClassIndexCocoMetric', ann_file=str(tmp_path / 'instances.json'),
                                metric='segm'))
    metric.dataset_meta = dict(classes=('wall', 'person', 'sky', 'car'))
    metric.process({}, [predictions([1])])
    with pytest.raises(ValueError, match=r'has category ids \[7\], which are not class indices of the dataset \(0-3\)'):
        metric.evaluate(1)


@pytest.mark.parametrize('config', sorted(
    glob.glob(os.path.join(CONFIGS, 'fcclip', 'fcclip_convnext-l_*.py'))
    + glob.glob(os.path.join(CONFIGS, 'san', 'san_vit-*.py'))), ids=os.path.basename)
def test_detectron2_based_methods_average_over_ground_truth_classes(config):
    """FC-CLIP and SAN report detectron2's mIoU, except on Cityscapes, which FC-CLIP scores with cityscapesScripts
    (a predicted class absent from the ground truth counts there, as in mmseg)."""
    evaluators = Config.fromfile(config).test_evaluator
    iou_metric, = [evaluator for evaluator in (evaluators if isinstance(evaluators, list) else [evaluators])
                   if evaluator['type'] == 'OpenVocabIoUMetric']
    assert iou_metric.get('ground_truth_classes_only', False) == ('cityscapes' not in config)
