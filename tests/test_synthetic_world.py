"""The synthetic world: determinism, exact masks and boxes, the on-disk formats, the dataset class."""
import colorsys
import json
import os.path as osp
import runpy
import sys

import cv2
import numpy as np
import pytest

from clipdense.datasets.synthetic import (CLASSES, COLOURS, SEEN_CLASSES, SHAPES, UNSEEN_CLASSES,
                                          SyntheticWorld, mask_to_rle, rle_to_mask,
                                          write_synthetic_world)
from clipdense.datasets.synthetic.vocabulary import COLOUR_HSV

REPO = osp.dirname(osp.dirname(osp.abspath(__file__)))
VOCABULARY_DIR = osp.join(REPO, 'clipdense', 'assets', 'vocabularies')


def _saturation_value(image: np.ndarray):
    rgb = image.astype(np.float64) / 255
    value = rgb.max(axis=-1)
    saturation = (value - rgb.min(axis=-1)) / np.maximum(value, 1e-9)
    return saturation, value


def _read_lines(path):
    with open(path) as f:
        return [line.rstrip('\n') for line in f if line.strip()]


def test_vocabulary_and_unseen_split():
    assert len(CLASSES) == len(SHAPES) * len(COLOURS) == 64
    assert len(UNSEEN_CLASSES) == 16 and len(SEEN_CLASSES) == 48
    assert not set(UNSEEN_CLASSES) & set(SEEN_CLASSES)
    # every shape and every colour is held out exactly twice, so every word is still seen
    for shape in SHAPES:
        assert sum(c.endswith(' ' + shape) for c in UNSEEN_CLASSES) == 2
    for colour in COLOURS:
        assert sum(c.startswith(colour + ' ') for c in UNSEEN_CLASSES) == 2
    assert _read_lines(osp.join(VOCABULARY_DIR, 'synthetic_world.txt')) == list(CLASSES)
    assert _read_lines(osp.join(VOCABULARY_DIR, 'synthetic_world_unseen.txt')) == list(UNSEEN_CLASSES)
    assert _read_lines(osp.join(VOCABULARY_DIR, 'synthetic_world_seen.txt')) == list(SEEN_CLASSES)
    assert _read_lines(osp.join(VOCABULARY_DIR, 'synthetic_world_with_background.txt')) == ['background', *CLASSES]


def test_scenes_are_a_pure_function_of_seed_split_index():
    world = SyntheticWorld(seed=3)
    later_first = world.scene('val', 7)
    in_order = list(world.scenes('val', 8))[7]
    again = SyntheticWorld(seed=3).scene('val', 7)
    for other in (in_order, again):
        assert np.array_equal(later_first.image, other.image)
        assert np.array_equal(later_first.labels, other.labels)
        assert [o.bbox for o in later_first.objects] == [o.bbox for o in other.objects]
    assert not np.array_equal(world.scene('val', 6).labels, later_first.labels)
    different_seed = SyntheticWorld(seed=4).scene('val', 7)
    assert later_first.image.shape != different_seed.image.shape or not np.array_equal(
        later_first.image, different_seed.image)


def test_masks_boxes_and_pixels_agree_exactly():
    scenes = list(SyntheticWorld(seed=0).scenes('val', 30))
    for scene in scenes:
        height, width = scene.labels.shape
        assert scene.image.shape == (height, width, 3) and scene.image.dtype == np.uint8
        assert 128 <= height <= 224 and 128 <= width <= 224
        assert scene.objects, 'every scene has at least one object'
        rebuilt = np.zeros_like(scene.labels)
        coverage = np.zeros((height, width), dtype=int)
        for obj in scene.objects:
            assert obj.area > 0
            coverage += obj.mask
            rebuilt[obj.mask] = obj.class_id + 1
            assert CLASSES[obj.class_id] == obj.name == f'{obj.colour} {obj.shape}'
            ys, xs = np.nonzero(obj.mask)
            x, y, w, h = obj.bbox
            assert (x, y, x + w - 1, y + h - 1) == (xs.min(), ys.min(), xs.max(), ys.max())
            # the painted pixels have the class's hue
            rgb = scene.image[obj.mask].astype(np.float64) / 255
            hues = np.array([colorsys.rgb_to_hsv(*p)[0] * 360 for p in rgb[:50]])
            gap = np.abs((hues - COLOUR_HSV[obj.colour][0] + 180) % 360 - 180)
            assert gap.max() < 8, (obj.name, gap.max())
        assert coverage.max() <= 1, 'instance masks must not overlap'
        assert np.array_equal(rebuilt, scene.labels)
        # objects are saturated, backgrounds are not: the label map is exactly the painted pixels
        saturation, value = _saturation_value(scene.image)
        assert np.array_equal(scene.labels > 0, saturation > 0.32)
        assert value[scene.labels > 0].min() > 0.4


def test_train_split_holds_only_seen_classes_and_val_holds_unseen():
    world = SyntheticWorld(seed=0)
    train_names = {o.name for s in world.scenes('train', 60) for o in s.objects}
    val_names = {o.name for s in world.scenes('val', 60) for o in s.objects}
    assert train_names <= set(SEEN_CLASSES)
    assert val_names & set(UNSEEN_CLASSES)


def test_unseen_in_train_puts_unseen_objects_in_training_scenes_but_not_in_the_training_json(tmp_path):
    """The transductive setting: unseen objects in training images, their segmentation labels true (configs map
    them to ignore or to pseudo labels), their instances left out of the training json as in OV-COCO."""
    scenes = list(SyntheticWorld(seed=0, unseen_in_train=True).scenes('train', 60))
    train_names = {o.name for s in scenes for o in s.objects}
    assert train_names & set(UNSEEN_CLASSES) and train_names & set(SEEN_CLASSES)
    root = str(tmp_path / 'world')
    meta = write_synthetic_world(root, num_train=6, num_val=1, seed=0, unseen_in_train=True)
    assert meta['unseen_in_train'] is True
    with open(osp.join(root, 'annotations', 'instances_train.json')) as f:
        coco = json.load(f)
    unseen_ids = {CLASSES.index(name) for name in UNSEEN_CLASSES}
    scenes = scenes[:6]  # the written ones
    assert any(o.class_id in unseen_ids for s in scenes for o in s.objects), 'seed 0 puts unseen objects here'
    assert len(coco['images']) == 6
    assert sorted(a['category_id'] - 1 for a in coco['annotations']) == sorted(
        o.class_id for s in scenes for o in s.objects if o.class_id not in unseen_ids)
    for index, scene in enumerate(scenes):
        labels = cv2.imread(osp.join(root, 'annotations', 'training', f'train_{index:06d}.png'),
                            cv2.IMREAD_UNCHANGED)
        assert np.array_equal(labels, scene.labels)


def test_captions():
    scene = SyntheticWorld(seed=0).scene('val', 0)
    caption = scene.caption
    assert caption.startswith('a photo of a ')
    for obj in scene.objects:
        assert obj.caption == f'a {obj.colour} {obj.shape}' and obj.caption in caption


def test_rle_round_trip_keeps_holes():
    scene = SyntheticWorld(seed=0).scene('val', 1)
    for obj in scene.objects:
        rle = mask_to_rle(obj.mask)
        assert sum(rle['counts']) == obj.mask.size
        assert np.array_equal(rle_to_mask(rle), obj.mask)
    ring = np.zeros((5, 5), dtype=bool)
    ring[1:4, 1:4] = True
    ring[2, 2] = False
    ring[0, 0] = True  # a mask starting with a foreground run
    assert np.array_equal(rle_to_mask(mask_to_rle(ring)), ring)
    assert mask_to_rle(ring)['counts'][0] == 0


def test_written_world_matches_the_generator(tmp_path):
    root = str(tmp_path / 'synthetic_world')
    meta = write_synthetic_world(root, num_train=3, num_val=4, seed=0)
    assert meta['unseen_classes'] == list(UNSEEN_CLASSES)
    world = SyntheticWorld(seed=0)
    for split, folder, num in (('train', 'training', 3), ('val', 'validation', 4)):
        with open(osp.join(root, 'annotations', f'instances_{split}.json')) as f:
            coco = json.load(f)
        assert [c['name'] for c in coco['categories']] == list(CLASSES)
        assert {c['name'] for c in coco['categories'] if c['split'] == 'novel'} == set(UNSEEN_CLASSES)
        assert len(coco['images']) == num
        for record in coco['images']:
            index = int(record['file_name'].split('_')[-1].split('.')[0])
            scene = world.scene(split, index)
            image = cv2.imread(osp.join(root, 'images', record['file_name']))[..., ::-1]
            labels = cv2.imread(osp.join(root, 'annotations', folder,
                                         osp.basename(record['file_name'])), cv2.IMREAD_UNCHANGED)
            assert np.array_equal(image, scene.image), 'images are lossless'
            assert np.array_equal(labels, scene.labels)
            anns = [a for a in coco['annotations'] if a['image_id'] == record['id']]
            assert len(anns) == len(scene.objects)
            for ann, obj in zip(anns, scene.objects):
                assert ann['category_id'] == obj.class_id + 1
                assert ann['bbox'] == obj.bbox and ann['area'] == obj.area
                assert np.array_equal(rle_to_mask(ann['segmentation']), obj.mask)
        if split == 'train':
            novel_ids = {c['id'] for c in coco['categories'] if c['split'] == 'novel'}
            assert not {a['category_id'] for a in coco['annotations']} & novel_ids


def test_coco_masks_decode_with_pycocotools(tmp_path):
    mask_utils = pytest.importorskip('pycocotools.mask')
    scene = SyntheticWorld(seed=0).scene('val', 2)
    for obj in scene.objects:
        rle = mask_to_rle(obj.mask)
        decoded = mask_utils.decode(mask_utils.frPyObjects(rle, *rle['size']))
        assert np.array_equal(decoded.astype(bool), obj.mask)


def test_dataset_class_and_config_read_the_written_world(tmp_path):
    from mmengine.config import Config

    from clipdense.registry import DATASETS, register_all_modules
    register_all_modules()
    root = str(tmp_path / 'synthetic_world')
    write_synthetic_world(root, num_train=2, num_val=3, seed=0)
    cfg = Config.fromfile(osp.join(REPO, 'configs', '_base_', 'datasets', 'synthetic_world.py'))
    dataset_cfg = cfg.val_dataloader.dataset
    dataset_cfg.data_root = root
    dataset = DATASETS.build(dataset_cfg)
    assert len(dataset) == 3
    assert list(dataset.metainfo['classes']) == list(CLASSES)
    assert list(dataset.metainfo['unseen_classes']) == list(UNSEEN_CLASSES)
    world = SyntheticWorld(seed=0)
    for i in range(3):
        sample = dataset[i]
        gt = sample['data_samples'].gt_sem_seg.data.numpy()[0]
        labels = world.scene('val', i).labels.astype(np.int64)
        expected = np.where(labels == 0, 255, labels - 1)
        assert np.array_equal(gt, expected)

    detection = DATASETS.build(dict(
        type='SyntheticWorldDetDataset', data_root=root, ann_file='annotations/instances_val.json',
        data_prefix=dict(img='images/'), pipeline=[], test_mode=True))
    assert len(detection) == 3
    info = detection.get_data_info(0)
    assert len(info['instances']) == len(world.scene('val', 0).objects)


def test_make_synthetic_world_tool(tmp_path, monkeypatch, capsys):
    out = tmp_path / 'world'
    monkeypatch.setattr(sys, 'argv', ['make_synthetic_world.py', str(out), '--num-train', '2',
                                      '--num-val', '2', '--seed', '5'])
    runpy.run_path(osp.join(REPO, 'tools', 'make_synthetic_world.py'), run_name='__main__')
    assert 'wrote 2 train and 2 val scenes' in capsys.readouterr().out
    assert sorted(p.name for p in (out / 'images' / 'validation').iterdir()) == [
        'val_000000.png', 'val_000001.png']
    with open(out / 'meta.json') as f:
        meta = json.load(f)
    assert meta['seed'] == 5 and meta['unseen_in_train'] is False
