"""The open-vocabulary detection protocol: OV-COCO's and OV-LVIS's splits and jsons (clipdense/datasets/ov_splits.py),
their converters (tools/dataset_converters/ov_{coco,lvis}.py), OVCocoDataset, OVCocoMetric (AP50 novel / base / all,
checked against pycocotools run per split), mmdet's LVISMetric under today's numpy, and the three detection base
configs (configs/_base_/datasets/{ov_coco,ov_lvis,synthetic_world}_detection.py)."""
import copy
import json
import os.path as osp
import runpy
import sys

import numpy as np
import pytest
import torch
from mmengine.config import Config

from clipdense.datasets import ov_splits
from clipdense.datasets.ov_splits import (OV_COCO_BASE_CLASSES, OV_COCO_CLASSES, OV_COCO_EXCLUDED_CLASSES,
                                          OV_COCO_NOVEL_CLASSES, OVAnnotationError, ov_coco_train, ov_coco_val,
                                          ov_lvis_train)
from clipdense.registry import DATASETS, METRICS, TRANSFORMS, register_all_modules

ROOT = osp.dirname(osp.dirname(osp.abspath(__file__)))
DATASET_CONFIGS = osp.join(ROOT, 'configs', '_base_', 'datasets')
PERSON, BICYCLE, CAR, TRAFFIC_LIGHT, STOP_SIGN, CAT, DOG = 1, 2, 3, 10, 13, 17, 18


@pytest.fixture(scope='module', autouse=True)
def registries():
    register_all_modules()


# ---- the split -----------------------------------------------------------------------------------------------
def test_split_ids_and_names():
    base, novel, excluded = ov_splits.OV_COCO_BASE_IDS, ov_splits.OV_COCO_NOVEL_IDS, ov_splits.OV_COCO_EXCLUDED_IDS
    assert (len(base), len(novel), len(excluded)) == (48, 17, 15)
    assert sorted(base + novel + excluded) == list(ov_splits.COCO_CATEGORY_IDS)
    assert len(ov_splits.COCO_CATEGORY_IDS) == 80 and ov_splits.COCO_CATEGORY_IDS[-1] == 90
    assert set(novel) == {5, 6, 17, 18, 21, 22, 28, 32, 36, 41, 47, 49, 61, 63, 76, 81, 87}
    assert OV_COCO_NOVEL_CLASSES == ('airplane', 'bus', 'cat', 'dog', 'cow', 'elephant', 'umbrella', 'tie',
                                     'snowboard', 'skateboard', 'cup', 'knife', 'cake', 'couch', 'keyboard', 'sink',
                                     'scissors')
    assert OV_COCO_EXCLUDED_CLASSES == (
        'traffic light', 'fire hydrant', 'stop sign', 'parking meter', 'sports ball', 'baseball bat',
        'baseball glove', 'tennis racket', 'wine glass', 'hot dog', 'potted plant', 'dining table', 'cell phone',
        'teddy bear', 'hair drier')
    assert len(OV_COCO_CLASSES) == 65 and OV_COCO_CLASSES[:6] == ('person', 'bicycle', 'car', 'motorcycle',
                                                                    'airplane', 'bus')
    assert OV_COCO_CLASSES[-1] == 'toothbrush' and 'hair drier' not in OV_COCO_CLASSES
    assert set(OV_COCO_BASE_CLASSES) | set(OV_COCO_NOVEL_CLASSES) == set(OV_COCO_CLASSES)
    assert [ov_splits.ov_coco_split(i) for i in (PERSON, DOG, TRAFFIC_LIGHT)] == ['base', 'novel', 'excluded']


def test_ov_coco_dataset_meta_mirrors_the_synthetic_world():
    from clipdense.datasets import OVCocoDataset
    from clipdense.datasets.synthetic import SyntheticWorldDetDataset
    assert set(OVCocoDataset.METAINFO) == set(SyntheticWorldDetDataset.METAINFO)
    meta = OVCocoDataset.METAINFO
    assert meta['classes'] == OV_COCO_CLASSES and len(meta['palette']) == 65
    assert meta['base_classes'] == OV_COCO_BASE_CLASSES and meta['novel_classes'] == OV_COCO_NOVEL_CLASSES


# ---- the jsons -------------------------------------------------------------------------------------------------
def coco_json():
    """COCO-shaped: all 80 categories with COCO's ids and names; image 1 base only, 2 base + novel + excluded, 3
    novel only, 4 excluded only, 5 without annotations."""
    categories = [dict(id=i, name=name, supercategory='thing') for i, name in ov_splits.COCO_CATEGORY_NAMES.items()]
    images = [dict(id=i, file_name=f'{i:012d}.jpg', height=40, width=60) for i in range(1, 6)]
    placed = [(1, PERSON), (1, CAR), (2, BICYCLE), (2, DOG), (2, TRAFFIC_LIGHT), (3, CAT), (3, DOG),
              (4, STOP_SIGN)]
    annotations = [dict(id=index + 1, image_id=image_id, category_id=category_id, bbox=[1 + index, 2, 10, 12],
                        area=120, iscrowd=0, segmentation=[[1, 2, 11, 2, 11, 14, 1, 14]])
                   for index, (image_id, category_id) in enumerate(placed)]
    return dict(info=dict(description='test'), licenses=[], images=images, annotations=annotations,
                categories=categories)


def lvis_json():
    """LVIS-shaped: a rare, a common and a frequent category; image 1 rare + common, 2 rare only, 3 frequent."""
    categories = [dict(id=1, name='aerosol_can', frequency='c', synset='a.n.01'),
                  dict(id=2, name='alarm_clock', frequency='r', synset='b.n.01'),
                  dict(id=3, name='apple', frequency='f', synset='c.n.01')]
    images = [dict(id=i, coco_url=f'http://images.cocodataset.org/train2017/{i:012d}.jpg', height=40, width=60,
                   neg_category_ids=[], not_exhaustive_category_ids=[]) for i in (1, 2, 3)]
    placed = [(1, 2), (1, 1), (2, 2), (3, 3), (3, 3)]
    annotations = [dict(id=index + 1, image_id=image_id, category_id=category_id, bbox=[2 + 4 * index, 3, 12, 10],
                        area=120, segmentation=[[2, 3, 14, 3, 14, 13, 2, 13]])
                   for index, (image_id, category_id) in enumerate(placed)]
    return dict(info={}, licenses=[], images=images, annotations=annotations, categories=categories)


def surviving(content):
    return ([image['id'] for image in content['images']],
            sorted((ann['image_id'], ann['category_id']) for ann in content['annotations']))


def test_ov_coco_train_keeps_base_annotations_and_all_65_categories():
    source = coco_json()
    original = copy.deepcopy(source)
    train = ov_coco_train(source)
    assert source == original  # the input is left alone
    # Mixed image 2 stays with its base object only; novel-only and excluded-only images go.
    assert surviving(train) == ([1, 2], [(1, PERSON), (1, CAR), (2, BICYCLE)])
    assert [category['name'] for category in train['categories']] == list(OV_COCO_CLASSES)
    splits = {category['name']: category['split'] for category in train['categories']}
    assert splits['dog'] == 'novel' and splits['person'] == 'base' and set(splits.values()) == {'base', 'novel'}
    assert train['info'] == original['info']


def test_ov_coco_val_keeps_the_65_categories():
    val = ov_coco_val(coco_json())
    assert surviving(val) == ([1, 2, 3], [(1, PERSON), (1, CAR), (2, BICYCLE), (2, DOG), (3, CAT), (3, DOG)])
    assert [category['id'] for category in val['categories']] == list(ov_splits.OV_COCO_IDS)
    assert all(category['split'] in ('base', 'novel') for category in val['categories'])


def test_ov_lvis_train_drops_rare_annotations():
    source = lvis_json()
    train = ov_lvis_train(source)
    assert surviving(train) == ([1, 3], [(1, 1), (3, 3), (3, 3)])
    assert train['categories'] == source['categories']  # ids and the full list kept
    assert len(source['annotations']) == 5


@pytest.mark.parametrize('make,content,expected', [
    (ov_coco_train, dict(images=[], categories=[]), "no 'annotations'"),
    (ov_coco_val, [1, 2], "no 'images' / 'annotations' / 'categories'"),
    (ov_coco_train, dict(images=[], annotations=[], categories=[dict(id=1, name='person')]), 'lacks the COCO'),
    (ov_coco_val, lvis_json(), 'lacks the COCO'),
    (ov_lvis_train, coco_json(), "has frequency None"),
])
def test_json_of_another_shape_is_a_user_error(make, content, expected):
    from clipdense.utils import UserError
    with pytest.raises(OVAnnotationError, match=expected) as error:
        make(content, 'some/file.json')
    assert isinstance(error.value, UserError) and 'some/file.json' in str(error.value)


def test_renamed_coco_category_is_named():
    content = coco_json()
    content['categories'][0]['name'] = 'human'
    with pytest.raises(OVAnnotationError, match="category 1 is 'human', COCO 2017 names it 'person'"):
        ov_coco_val(content, 'x.json')


# ---- the converters --------------------------------------------------------------------------------------------
def run_tool(monkeypatch, script, *args):
    monkeypatch.setattr(sys, 'argv', [script, *map(str, args)])
    runpy.run_path(osp.join(ROOT, script), run_name='__main__')


def run_failing_tool(monkeypatch, capfd, script, *args):
    """The one stderr line of a tool ending on a user error (exit status 2, no traceback)."""
    with pytest.raises(SystemExit) as exit_info:
        run_tool(monkeypatch, script, *args)
    out, err = capfd.readouterr()
    assert exit_info.value.code == 2 and 'Traceback' not in out + err
    lines = [line for line in err.splitlines() if line.strip()]
    assert len(lines) == 1 and lines[0].startswith('error: '), err
    return lines[0]


def write_json(path, content):
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(content))
    return path


def read_json(path):
    with open(path) as f:
        return json.load(f)


def test_ov_coco_converter(tmp_path, monkeypatch, capfd):
    folder = tmp_path / 'annotations'
    write_json(folder / 'instances_train2017.json', coco_json())
    write_json(folder / 'instances_val2017.json', coco_json())
    run_tool(monkeypatch, 'tools/dataset_converters/ov_coco.py', folder)
    out = capfd.readouterr().out
    assert read_json(folder / 'instances_train2017_ov_base.json') == ov_coco_train(coco_json())
    assert read_json(folder / 'instances_val2017_ov65.json') == ov_coco_val(coco_json())
    assert 'instances_train2017_ov_base.json: 2 images, 3 annotations, 65 categories' in out
    assert 'instances_val2017_ov65.json: 3 images, 6 annotations, 65 categories' in out
    # Explicit jsons and output folder, one split.
    run_tool(monkeypatch, 'tools/dataset_converters/ov_coco.py', '--val-json', folder / 'instances_val2017.json',
             '-o', tmp_path / 'out', '--splits', 'val')
    assert sorted(path.name for path in (tmp_path / 'out').iterdir()) == ['instances_val2017_ov65.json']

    line = run_failing_tool(monkeypatch, capfd, 'tools/dataset_converters/ov_coco.py', tmp_path / 'nowhere')
    assert 'nowhere/instances_train2017.json does not exist' in line
    assert not (tmp_path / 'nowhere').exists()
    write_json(tmp_path / 'lvis.json', lvis_json())
    line = run_failing_tool(monkeypatch, capfd, 'tools/dataset_converters/ov_coco.py', '--val-json',
                            tmp_path / 'lvis.json', '-o', tmp_path, '--splits', 'val')
    assert 'lvis.json lacks the COCO 2017 category ids' in line
    line = run_failing_tool(monkeypatch, capfd, 'tools/dataset_converters/ov_coco.py', '--val-json', 'x.json')
    assert 'no output folder' in line


def test_ov_lvis_converter(tmp_path, monkeypatch, capfd):
    folder = tmp_path / 'annotations'
    write_json(folder / 'lvis_v1_train.json', lvis_json())
    run_tool(monkeypatch, 'tools/dataset_converters/ov_lvis.py', folder)
    assert read_json(folder / 'lvis_v1_train_ov_base.json') == ov_lvis_train(lvis_json())
    assert 'lvis_v1_train_ov_base.json: 2 images, 3 annotations, 3 categories' in capfd.readouterr().out
    line = run_failing_tool(monkeypatch, capfd, 'tools/dataset_converters/ov_lvis.py', '--train-json',
                            tmp_path / 'missing.json', '-o', tmp_path)
    assert 'missing.json does not exist' in line
    (tmp_path / 'broken.json').write_text('{"images": [')
    line = run_failing_tool(monkeypatch, capfd, 'tools/dataset_converters/ov_lvis.py', '--train-json',
                            tmp_path / 'broken.json', '-o', tmp_path)
    assert 'cannot read' in line and 'broken.json' in line


# ---- the dataset -----------------------------------------------------------------------------------------------
def build_ov_coco(tmp_path, ann_name, content):
    write_json(tmp_path / 'annotations' / ann_name, content)
    return DATASETS.build(dict(type='OVCocoDataset', data_root=str(tmp_path), ann_file=f'annotations/{ann_name}',
                               data_prefix=dict(img='val2017/'), pipeline=[], test_mode=True))


def test_ov_coco_dataset_labels_agree_between_train_and_val(tmp_path):
    train = build_ov_coco(tmp_path, 'train.json', ov_coco_train(coco_json()))
    val = build_ov_coco(tmp_path, 'val.json', ov_coco_val(coco_json()))
    labels = {}
    for dataset in (train, val):
        for index in range(len(dataset)):
            for instance in dataset.get_data_info(index)['instances']:
                labels.setdefault(dataset.metainfo['classes'][instance['bbox_label']], set()).add(
                    instance['bbox_label'])
    assert labels['car'] == {OV_COCO_CLASSES.index('car')} and labels['dog'] == {OV_COCO_CLASSES.index('dog')}
    assert labels['bicycle'] == {1}  # seen in both files, one label
    with pytest.raises(OVAnnotationError, match='ov_coco.py'):
        build_ov_coco(tmp_path, 'raw.json', coco_json())  # COCO's own json: excluded categories annotated


# ---- the metric ------------------------------------------------------------------------------------------------
@pytest.fixture(scope='module')
def synthetic_val(small_synthetic_world):
    """The synthetic world's val set, built from the detection base config as a config would build it."""
    cfg = Config.fromfile(osp.join(DATASET_CONFIGS, 'synthetic_world_detection.py'))
    dataset = DATASETS.build(dict(cfg.val_dataloader.dataset, data_root=str(small_synthetic_world)))
    ann_file = str(small_synthetic_world / 'annotations' / 'instances_val.json')
    return cfg, dataset, ann_file


def ground_truth(dataset):
    """Per image: (img_id, shape, boxes xyxy, labels)."""
    samples = []
    for index in range(len(dataset)):
        info = dataset.get_data_info(index)
        boxes = np.array([instance['bbox'] for instance in info['instances']], dtype=np.float32)
        labels = np.array([instance['bbox_label'] for instance in info['instances']])
        samples.append((info['img_id'], (info['height'], info['width']), boxes, labels))
    return samples


def evaluate(cfg, dataset, ann_file, predictions, **metric_args):
    """Run the base config's evaluator (built through the registry) on ``[(img_id, shape, boxes, scores,
    labels)]``."""
    metric = METRICS.build(dict(cfg.val_evaluator, ann_file=ann_file, **metric_args))
    metric.dataset_meta = dataset.metainfo
    metric.process({}, [dict(img_id=img_id, ori_shape=shape,
                             pred_instances=dict(bboxes=torch.as_tensor(boxes, dtype=torch.float32).reshape(-1, 4),
                                                 scores=torch.as_tensor(scores, dtype=torch.float32),
                                                 labels=torch.as_tensor(labels, dtype=torch.long)))
                        for img_id, shape, boxes, scores, labels in predictions])
    return {key.split('/')[-1]: value for key, value in metric.evaluate(len(predictions)).items()}


def test_ov_coco_metric_splits(synthetic_val):
    cfg, dataset, ann_file = synthetic_val
    truth = ground_truth(dataset)
    novel = [dataset.metainfo['classes'].index(name) for name in dataset.metainfo['novel_classes']]
    assert any(np.isin(labels, novel).any() for *_, labels in truth)  # the val scenes hold novel objects

    perfect = evaluate(cfg, dataset, ann_file, [(i, s, b, np.ones(len(b)), l) for i, s, b, l in truth])
    for split in ('novel', 'base', 'all'):
        assert perfect[f'bbox_AP50_{split}'] == pytest.approx(100)
    assert perfect['bbox_mAP'] == 1.0

    keep = [~np.isin(labels, novel) for *_, labels in truth]
    no_novel = evaluate(cfg, dataset, ann_file,
                        [(i, s, b[k], np.ones(k.sum()), l[k]) for (i, s, b, l), k in zip(truth, keep)])
    assert no_novel['bbox_AP50_novel'] == 0 and no_novel['bbox_AP50_base'] == pytest.approx(100)
    assert 0 < no_novel['bbox_AP50_all'] < 100

    num_classes = len(dataset.metainfo['classes'])
    shuffled = evaluate(cfg, dataset, ann_file,
                        [(i, s, b, np.ones(len(b)), (l + 7) % num_classes) for i, s, b, l in truth])
    assert all(shuffled[f'bbox_AP50_{split}'] < 10 for split in ('novel', 'base', 'all'))


def test_ov_coco_metric_masks(synthetic_val):
    """With 'segm', the same splits are reported for masks (segm_AP50_*) beside the boxes."""
    from clipdense.datasets.synthetic import rle_to_mask
    cfg, dataset, ann_file = synthetic_val
    metric = METRICS.build(dict(cfg.val_evaluator, ann_file=ann_file, metric=['bbox', 'segm']))
    metric.dataset_meta = dataset.metainfo
    samples = []
    for index in range(len(dataset)):
        info = dataset.get_data_info(index)
        instances = info['instances']
        samples.append(dict(img_id=info['img_id'], ori_shape=(info['height'], info['width']), pred_instances=dict(
            bboxes=torch.tensor([instance['bbox'] for instance in instances]), scores=torch.ones(len(instances)),
            labels=torch.tensor([instance['bbox_label'] for instance in instances]),
            masks=torch.from_numpy(np.stack([rle_to_mask(instance['mask']) for instance in instances])))))
    metric.process({}, samples)
    results = metric.evaluate(len(samples))
    for split in ('novel', 'base', 'all'):
        assert results[f'coco/segm_AP50_{split}'] == pytest.approx(100)
        assert results[f'coco/bbox_AP50_{split}'] == pytest.approx(100)


def test_ov_coco_metric_equals_pycocotools_per_split(synthetic_val):
    """Noisy predictions (jittered boxes, random scores, misses, false positives), scored by OVCocoMetric and by
    pycocotools run separately on each split's category ids, read from the json's 'split' fields."""
    from pycocotools.coco import COCO
    from pycocotools.cocoeval import COCOeval
    cfg, dataset, ann_file = synthetic_val
    rng = np.random.default_rng(0)
    predictions = []
    for img_id, shape, boxes, labels in ground_truth(dataset):
        kept = rng.random(len(boxes)) > 0.2
        jitter = rng.normal(0, 4, boxes.shape).astype(np.float32)
        extra = rng.uniform(0, 100, (3, 2)).astype(np.float32)
        false_positives = np.concatenate([extra, extra + 30], axis=1)
        predictions.append((img_id, shape, np.concatenate([boxes[kept] + jitter[kept], false_positives]),
                            rng.random(kept.sum() + 3), np.concatenate([labels[kept], rng.integers(0, 64, 3)])))
    ours = evaluate(cfg, dataset, ann_file, predictions)

    gt = COCO(ann_file)
    label_to_id = {index: gt.getCatIds(catNms=[name])[0] for index, name in enumerate(dataset.metainfo['classes'])}
    detections = gt.loadRes([dict(image_id=img_id, category_id=label_to_id[int(label)], score=float(score),
                                  bbox=[float(x0), float(y0), float(x1 - x0), float(y1 - y0)])
                             for img_id, _, boxes, scores, labels in predictions
                             for (x0, y0, x1, y1), score, label in zip(boxes, scores, labels)])
    split_ids = {'all': gt.getCatIds()}
    for split in ('base', 'novel'):
        split_ids[split] = [category['id'] for category in gt.dataset['categories'] if category['split'] == split]
    for split, category_ids in split_ids.items():
        coco_eval = COCOeval(gt, detections, 'bbox')
        coco_eval.params.catIds = category_ids
        coco_eval.evaluate()
        coco_eval.accumulate()
        precision = coco_eval.eval['precision'][0, :, :, 0, -1]  # IoU 0.5, area all, maxDets 100
        expected = np.mean(precision[precision > -1]) * 100
        assert ours[f'bbox_AP50_{split}'] == pytest.approx(expected, abs=1e-9), split
        if split == 'all':
            coco_eval.summarize()
            assert ours['bbox_AP50_all'] == pytest.approx(coco_eval.stats[1] * 100)
    assert 0 < ours['bbox_AP50_novel'] < 100 and 0 < ours['bbox_AP50_base'] < 100


def test_ov_coco_metric_arguments(synthetic_val, tmp_path):
    from clipdense.evaluation.ov_coco_metric import ClassSplitError
    cfg, dataset, ann_file = synthetic_val
    # Explicit names win over the dataset's meta.
    truth = ground_truth(dataset)
    swapped = evaluate(cfg, dataset, ann_file, [(i, s, b, np.ones(len(b)), l) for i, s, b, l in truth],
                       novel_classes=dataset.metainfo['base_classes'],
                       base_classes=dataset.metainfo['novel_classes'])
    assert swapped['bbox_AP50_novel'] == pytest.approx(100)
    metric = METRICS.build(dict(cfg.val_evaluator, ann_file=ann_file))
    meta = {key: value for key, value in dataset.metainfo.items() if key != 'novel_classes'}
    with pytest.raises(ClassSplitError, match="no novel classes.*novel_classes="):
        metric.dataset_meta = meta
    metric = METRICS.build(dict(cfg.val_evaluator, ann_file=ann_file, novel_classes=['red circle', 'mauve cube']))
    with pytest.raises(ClassSplitError, match=r"\['mauve cube'\] are not among"):
        metric.dataset_meta = dataset.metainfo
    with pytest.raises(ClassSplitError, match='lacks 0.5'):
        METRICS.build(dict(cfg.val_evaluator, ann_file=ann_file, iou_thrs=[0.75]))
    # No detection at all is an AP of 0, not an error.
    nothing = evaluate(cfg, dataset, ann_file, [(i, s, np.zeros((0, 4)), [], []) for i, s, _, _ in truth])
    assert nothing['bbox_AP50_all'] == 0


def test_lvis_metric_evaluates(tmp_path):
    """mmdet's LVISMetric runs end to end with the installed lvis package and numpy (lvis 0.5.3 uses np.float,
    which clipdense.evaluation restores for it)."""
    from mmdet.evaluation import LVISMetric  # noqa: F401  (import fails without the lvis package)
    content = lvis_json()
    ann_file = write_json(tmp_path / 'lvis_v1_val.json', content)
    metric = METRICS.build(dict(type='mmdet.LVISMetric', ann_file=str(ann_file), metric=['bbox']))
    metric.dataset_meta = dict(classes=('aerosol_can', 'alarm_clock', 'apple'))
    samples = []
    for image in content['images']:
        anns = [ann for ann in content['annotations'] if ann['image_id'] == image['id']]
        boxes = torch.tensor([[x, y, x + w, y + h] for x, y, w, h in (ann['bbox'] for ann in anns)])
        samples.append(dict(img_id=image['id'], ori_shape=(40, 60), pred_instances=dict(
            bboxes=boxes, scores=torch.ones(len(anns)), labels=torch.tensor([ann['category_id'] - 1 for ann in anns]))))
    metric.process({}, samples)
    results = metric.evaluate(len(samples))
    assert results['lvis/bbox_AP'] == 1.0 and results['lvis/bbox_APr'] == 1.0 and results['lvis/bbox_APf'] == 1.0


# ---- the base configs ------------------------------------------------------------------------------------------
def test_synthetic_world_detection_config_packs_samples(synthetic_val, small_synthetic_world):
    cfg, val, _ = synthetic_val
    sample = val[0]
    assert sample['inputs'].shape[0] == 3 and max(sample['inputs'].shape[1:]) == 224
    assert len(sample['data_samples'].gt_instances.bboxes) > 0
    train = DATASETS.build(dict(cfg.train_dataloader.dataset, data_root=str(small_synthetic_world)))
    assert len(train) == 12 and train.metainfo['novel_classes'] == val.metainfo['novel_classes']
    packed = train[0]['data_samples']
    assert len(packed.gt_instances.masks) == len(packed.gt_instances.bboxes) > 0
    assert cfg.train_dataloader.batch_size == 4


@pytest.mark.parametrize('name', ['ov_coco_detection', 'ov_lvis_detection'])
def test_multi_scale_training_scales_boxes(name, synthetic_val):
    """The train pipeline's RandomChoiceResize resizes boxes and masks with the image (mmdet's Resize inside)."""
    cfg = Config.fromfile(osp.join(DATASET_CONFIGS, f'{name}.py'))
    pipeline = [TRANSFORMS.build(step) for step in cfg.train_pipeline]
    _, dataset, _ = synthetic_val
    results = dataset.get_data_info(0)
    widths = sorted(instance['bbox'][2] - instance['bbox'][0] for instance in results['instances'])
    for transform in pipeline:
        results = transform(results)
    image_short_side = min(results['inputs'].shape[1:])
    assert image_short_side in range(640, 801, 32)
    instances = results['data_samples'].gt_instances
    scale = results['data_samples'].scale_factor[0]
    boxes = instances.bboxes.tensor
    assert sorted((boxes[:, 2] - boxes[:, 0]).tolist()) == pytest.approx(
        [width * scale for width in widths], rel=1e-4)
    assert tuple(instances.masks.masks.shape[1:]) == tuple(results['inputs'].shape[1:])


def test_ov_detection_configs_build(tmp_path):
    """OV-COCO's and OV-LVIS's base configs build their datasets and evaluators on converted tiny jsons."""
    coco_cfg = Config.fromfile(osp.join(DATASET_CONFIGS, 'ov_coco_detection.py'))
    root = tmp_path / 'coco'
    write_json(root / 'annotations' / 'instances_train2017_ov_base.json', ov_coco_train(coco_json()))
    write_json(root / 'annotations' / 'instances_val2017_ov65.json', ov_coco_val(coco_json()))
    train = DATASETS.build(dict(coco_cfg.train_dataloader.dataset, data_root=str(root)))
    val = DATASETS.build(dict(coco_cfg.val_dataloader.dataset, data_root=str(root)))
    assert type(train).__name__ == 'OVCocoDataset' and len(val) == 3
    assert coco_cfg.val_evaluator.ann_file == 'data/coco/annotations/instances_val2017_ov65.json'
    metric = METRICS.build(dict(coco_cfg.val_evaluator,
                                ann_file=str(root / 'annotations' / 'instances_val2017_ov65.json')))
    metric.dataset_meta = val.metainfo
    assert metric.class_splits()['novel'] == OV_COCO_NOVEL_CLASSES
    assert train.filter_cfg == dict(filter_empty_gt=True, min_size=32)

    lvis_cfg = Config.fromfile(osp.join(DATASET_CONFIGS, 'ov_lvis_detection.py'))
    root = tmp_path / 'lvis_v1'
    write_json(root / 'annotations' / 'lvis_v1_train_ov_base.json', ov_lvis_train(lvis_json()))
    write_json(root / 'annotations' / 'lvis_v1_val.json', lvis_json())
    inner = lvis_cfg.train_dataloader.dataset.dataset
    train = DATASETS.build(dict(lvis_cfg.train_dataloader.dataset, dataset=dict(inner, data_root=str(root))))
    assert train.dataset.get_data_info(0)['img_path'].endswith('train2017/000000000001.jpg')
    val = DATASETS.build(dict(lvis_cfg.val_dataloader.dataset, data_root=str(root)))
    assert type(val).__name__ == 'LVISV1Dataset' and len(val) == 3
    metric = METRICS.build(dict(lvis_cfg.val_evaluator, ann_file=str(root / 'annotations' / 'lvis_v1_val.json')))
    assert type(metric).__name__ == 'LVISMetric'
