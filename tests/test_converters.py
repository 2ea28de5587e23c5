"""The dataset converters on tiny inputs in the raw release formats."""
import importlib.util
import json
import os.path as osp

import cv2
import numpy as np
import pytest
from PIL import Image

import clipdense.datasets  # noqa: F401  (registers the datasets and transforms)
from clipdense.datasets import writers
from clipdense.datasets.class_lists import ADE20K_847_OBJECT_IDS
from clipdense.registry import DATASETS

CONVERTERS = osp.join(osp.dirname(__file__), '..', 'tools', 'dataset_converters')
IGNORE_16BIT = 65535


def load_converter(name):
    spec = importlib.util.spec_from_file_location(f'converter_{name}',
                                                  osp.join(CONVERTERS, name + '.py'))
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


pytestmark = pytest.mark.usefixtures('clipdense_scope')


def read(path):
    return np.array(Image.open(path))


def gt_of(dataset_cfg):
    dataset = DATASETS.build(dataset_cfg)
    return {osp.basename(dataset.get_data_info(i)['img_path']).split('.')[0]:
            dataset[i]['data_samples'].gt_sem_seg.data[0].numpy() for i in range(len(dataset))}


def image(rng, height, width):
    return rng.integers(0, 256, (height, width, 3), dtype=np.uint8)


@pytest.mark.parametrize('name', ['coco_object', 'pascal_context', 'ade20k_847'])
def test_help(name, capsys):
    with pytest.raises(SystemExit) as exit_info:
        load_converter(name).main(['--help'])
    assert exit_info.value.code == 0
    assert 'usage:' in capsys.readouterr().out


# --------------------------------------------------------------------------- COCO-Object
def test_coco_object_from_stuffthingmaps(tmp_path):
    converter = load_converter('coco_object')
    rng = np.random.default_rng(0)
    root = str(tmp_path / 'coco_stuff164k')
    # COCO-Stuff pixel = category id - 1: person(1) 0, stop sign(13) 12, toothbrush(90) 89,
    # stuff banner(92) 91, wood(182) 181, unlabelled 255.
    raw = np.array([[0, 12, 89, 91], [181, 255, 0, 2]], dtype=np.uint8)
    expected = np.array([[1, 12, 80, 0], [0, 0, 1, 3]], dtype=np.uint8)
    writers.write_coco_stuff_raw(root, 'val2017', [('000000000139', image(rng, 2, 4), raw)])
    # mmseg's COCO-Stuff-171 maps live in the same folder and must be skipped.
    writers.write_coco_stuff(root, 'val2017', [('000000000139', image(rng, 2, 4), raw)])

    converter.main([root, '--splits', 'val2017'])
    out = osp.join(root, 'annotations', 'val2017', '000000000139_instanceTrainIds.png')
    np.testing.assert_array_equal(read(out), expected)
    assert not osp.exists(out.replace('.png', '_instanceTrainIds.png'))

    gt = gt_of(dict(type='COCOObjectDataset', data_root=root,
                    data_prefix=dict(img_path='images/val2017',
                                     seg_map_path='annotations/val2017'),
                    pipeline=[dict(type='LoadImageFromFile'), dict(type='LoadAnnotations'),
                              dict(type='PackSegInputs')]))
    np.testing.assert_array_equal(gt['000000000139'], expected)


def test_coco_object_rejects_unknown_values_and_missing_input(tmp_path):
    converter = load_converter('coco_object')
    rng = np.random.default_rng(1)
    root = str(tmp_path / 'coco_stuff164k')
    # 11 = category 12, which COCO never uses.
    writers.write_coco_stuff_raw(root, 'val2017', [('1', image(rng, 2, 2),
                                                    np.array([[0, 11], [0, 0]]))])
    with pytest.raises(ValueError, match=r'values \[11\]'):
        converter.main([root, '--splits', 'val2017'])
    with pytest.raises(SystemExit, match='stuffthingmaps'):
        converter.main([root, '--splits', 'train2017'])


def test_coco_object_from_instances(tmp_path):
    converter = load_converter('coco_object')
    from pycocotools import mask as mask_utils
    root = str(tmp_path / 'coco_stuff164k')
    height, width = 6, 8
    dog_rle = np.zeros((height, width), np.uint8)
    dog_rle[:, 4:] = 1
    rle = mask_utils.encode(np.asfortranarray(dog_rle))
    rle['counts'] = rle['counts'].decode('ascii')
    annotations = [
        # person covers columns 0..5 (polygon), then dog (RLE, later) covers 4..7,
        # then a crowd person over everything must be left out.
        dict(id=1, image_id=5, category_id=1, bbox=[0, 0, 6, 6], area=36, iscrowd=0,
             segmentation=[[0, 0, 6, 0, 6, 6, 0, 6]]),
        dict(id=2, image_id=5, category_id=18, bbox=[4, 0, 4, 6], area=24, iscrowd=0,
             segmentation=rle),
        dict(id=3, image_id=5, category_id=1, bbox=[0, 0, 8, 6], area=48, iscrowd=1,
             segmentation=mask_utils.encode(np.asfortranarray(np.ones((height, width),
                                                                      np.uint8)))),
    ]
    annotations[2]['segmentation']['counts'] = \
        annotations[2]['segmentation']['counts'].decode('ascii')
    json_path = str(tmp_path / 'instances_val2017.json')
    writers.write_coco_instances(
        json_path, [dict(id=5, file_name='000000000005.jpg', height=height, width=width),
                    dict(id=6, file_name='000000000006.jpg', height=2, width=2)],
        annotations, [dict(id=1, name='person', supercategory='person'),
                      dict(id=18, name='dog', supercategory='animal')])
    converter.main([root, '--splits', 'val2017', '--instances-json', json_path])
    labels = read(osp.join(root, 'annotations', 'val2017', '000000000005_instanceTrainIds.png'))
    dog = 17  # dog is the 17th thing category
    expected = np.zeros((height, width), np.uint8)
    expected[:, :6] = 1
    expected[:, 4:] = dog
    np.testing.assert_array_equal(labels, expected)
    empty = read(osp.join(root, 'annotations', 'val2017', '000000000006_instanceTrainIds.png'))
    assert empty.shape == (2, 2) and not empty.any()


# ------------------------------------------------------------------------ PASCAL Context
def test_pascal_context_from_mat(tmp_path):
    converter = load_converter('pascal_context')
    rng = np.random.default_rng(2)
    root = str(tmp_path / 'VOCdevkit' / 'VOC2010')
    # labels.txt ids: 1 accordion (not in the 59), 2 aeroplane, 9 bag, 458 wood, 459 wool.
    raw = np.array([[1, 2, 9], [458, 459, 0]], dtype=np.uint16)
    expected60 = np.array([[0, 1, 2], [59, 0, 0]], dtype=np.uint8)
    expected459 = np.array([[0, 1, 8], [457, 458, IGNORE_16BIT]], dtype=np.uint16)
    writers.write_pascal_context_raw(root, 'val', [('2008_000002', image(rng, 2, 3), raw)])
    writers.write_pascal_context_raw(root, 'train', [('2008_000001', image(rng, 2, 3), raw)])

    converter.main([root, '--mat-dir', osp.join(root, 'trainval'),
                    '--targets', 'context60', 'context459'])
    np.testing.assert_array_equal(
        read(osp.join(root, 'SegmentationClassContext', '2008_000002.png')), expected60)
    tif = read(osp.join(root, 'annotations_detectron2', 'pc459_val', '2008_000002.tif'))
    assert tif.dtype == np.uint16
    np.testing.assert_array_equal(tif, expected459)
    for split, name in (('train', '2008_000001'), ('val', '2008_000002')):
        with open(osp.join(root, 'ImageSets', 'SegmentationContext', split + '.txt')) as f:
            assert f.read() == name + '\n'

    load = [dict(type='LoadImageFromFile'), dict(type='LoadAnnotations'),
            dict(type='PackSegInputs')]
    gt59 = gt_of(dict(type='PascalContextDataset59', data_root=root,
                      ann_file='ImageSets/SegmentationContext/val.txt',
                      data_prefix=dict(img_path='JPEGImages',
                                       seg_map_path='SegmentationClassContext'),
                      pipeline=load))
    np.testing.assert_array_equal(gt59['2008_000002'], [[255, 0, 1], [58, 255, 255]])
    load[1] = dict(type='Load16BitAnnotations')
    gt459 = gt_of(dict(type='PascalContext459Dataset', data_root=root,
                       ann_file='ImageSets/SegmentationContext/val.txt',
                       data_prefix=dict(img_path='JPEGImages',
                                        seg_map_path='annotations_detectron2/pc459_val'),
                       pipeline=load))
    np.testing.assert_array_equal(gt459['2008_000002'], expected459)


def test_pascal_context_from_detail_json(tmp_path):
    converter = load_converter('pascal_context')
    from pycocotools import mask as mask_utils
    root = str(tmp_path / 'VOC2010')
    height, width = 4, 5

    def rle(mask):
        encoded = mask_utils.encode(np.asfortranarray(mask.astype(np.uint8)))
        encoded['counts'] = encoded['counts'].decode('ascii')
        return encoded

    left = np.zeros((height, width), bool)
    left[:, :3] = True
    right = np.zeros((height, width), bool)
    right[:, 2:] = True
    data = dict(
        images=[dict(image_id=2008000002, file_name='2008_000002.jpg', phase='val',
                     height=height, width=width),
                dict(image_id=2008000003, file_name='2008_000003.jpg', phase='train',
                     height=height, width=width)],
        # aeroplane (2) left, then wood (458) right, painted later over column 2.
        annos_segmentation=[
            dict(id=1, image_id=2008000002, category_id=2, segmentation=rle(left)),
            dict(id=2, image_id=2008000002, category_id=458, segmentation=rle(right)),
            dict(id=3, image_id=2008000003, category_id=9, segmentation=rle(right)),
        ],
        categories=[dict(category_id=2, name='aeroplane'), dict(category_id=9, name='bag'),
                    dict(category_id=458, name='wood')])
    json_path = str(tmp_path / 'trainval_merged.json')
    with open(json_path, 'w') as f:
        json.dump(data, f)
    import os
    os.makedirs(root)
    converter.main([root, '--json', json_path])
    expected = np.zeros((height, width), np.uint8)
    expected[:, :2] = 1
    expected[:, 2:] = 59
    np.testing.assert_array_equal(
        read(osp.join(root, 'SegmentationClassContext', '2008_000002.png')), expected)
    with open(osp.join(root, 'ImageSets', 'SegmentationContext', 'train.txt')) as f:
        assert f.read() == '2008_000003\n'

    data['annos_segmentation'][0]['category_id'] = 1  # accordion is no Context-59 class
    with open(json_path, 'w') as f:
        json.dump(data, f)
    with pytest.raises(ValueError, match=r'category ids \[1\] are not Context-59'):
        converter.main([root, '--json', json_path, '--splits', 'val'])


def test_pascal_context_input_errors(tmp_path):
    converter = load_converter('pascal_context')
    with pytest.raises(SystemExit, match='does not exist'):
        converter.main([str(tmp_path / 'missing'), '--mat-dir', str(tmp_path)])
    with pytest.raises(SystemExit, match='context459 needs --mat-dir'):
        converter.main([str(tmp_path), '--json', 'x.json', '--targets', 'context459'])
    with pytest.raises(SystemExit, match=r'ImageSets/Main/train\.txt'):
        converter.main([str(tmp_path), '--mat-dir', str(tmp_path)])
    rng = np.random.default_rng(3)
    writers.write_pascal_context_raw(str(tmp_path), 'val',
                                     [('2008_000002', image(rng, 2, 2), np.ones((2, 2), int))])
    with open(osp.join(str(tmp_path), 'trainval', '2008_000002.mat'), 'wb') as f:
        f.write(b'corrupt')
    with pytest.raises(ValueError, match=r'could not read .*2008_000002\.mat'):
        converter.main([str(tmp_path), '--mat-dir', osp.join(str(tmp_path), 'trainval'),
                        '--splits', 'val'])


# ------------------------------------------------------------------------------ ADE-847
def test_ade20k_847(tmp_path):
    converter = load_converter('ade20k_847')
    rng = np.random.default_rng(4)
    root = str(tmp_path / 'ADE20K_2021_17_01')
    wall, sky, adding_machine = (ADE20K_847_OBJECT_IDS[0], ADE20K_847_OBJECT_IDS[2],
                                 ADE20K_847_OBJECT_IDS[846])
    not_in_847 = next(i for i in range(1, 4000) if i not in ADE20K_847_OBJECT_IDS)
    small = np.array([[wall, sky, 0], [adding_machine, not_in_847, wall]])
    big = np.full((12, 16), sky)
    big[:6] = wall
    writers.write_ade20k_full_raw(root, [
        ('ADE_val_00000001', image(rng, 2, 3), small),
        ('ADE_val_00000002', image(rng, 12, 16), big),
        ('ADE_train_00000001', image(rng, 2, 3), small),
    ])
    converter.main([root, '--max-size', '8'])

    ann_dir = osp.join(root, 'annotations_detectron2', 'validation')
    labels = read(osp.join(ann_dir, 'ADE_val_00000001.tif'))
    assert labels.dtype == np.uint16
    np.testing.assert_array_equal(labels, [[0, 2, IGNORE_16BIT], [846, IGNORE_16BIT, 0]])
    # 12 x 16 has both sides above 8: the shorter becomes 8, the longer round(16 / 12 * 8).
    resized = read(osp.join(ann_dir, 'ADE_val_00000002.tif'))
    expected = cv2.resize(np.where(big == wall, 0, 2).astype(np.int32), (11, 8),
                          interpolation=cv2.INTER_NEAREST)
    np.testing.assert_array_equal(resized, expected)
    assert Image.open(osp.join(root, 'images_detectron2', 'validation',
                               'ADE_val_00000002.jpg')).size == (11, 8)
    assert not osp.exists(osp.join(root, 'images_detectron2', 'training'))

    gt = gt_of(dict(type='ADE20K847Dataset', data_root=root,
                    data_prefix=dict(img_path='images_detectron2/validation',
                                     seg_map_path='annotations_detectron2/validation'),
                    pipeline=[dict(type='LoadImageFromFile'),
                              dict(type='Load16BitAnnotations'), dict(type='PackSegInputs')]))
    np.testing.assert_array_equal(gt['ADE_val_00000001'], labels)


def test_ade20k_847_input_errors(tmp_path):
    converter = load_converter('ade20k_847')
    with pytest.raises(SystemExit, match='index_ade20k.pkl'):
        converter.main([str(tmp_path)])
    rng = np.random.default_rng(5)
    root = str(tmp_path / 'ADE20K_2021_17_01')
    writers.write_ade20k_full_raw(root, [('ADE_val_00000001', image(rng, 2, 2),
                                          np.zeros((2, 2), int))])
    seg = osp.join(str(tmp_path), 'ADE20K_2021_17_01', 'images', 'ADE', 'validation',
                   'synthetic', 'ADE_val_00000001_seg.png')
    with open(seg, 'wb') as f:
        f.write(b'corrupt')
    with pytest.raises(ValueError, match='could not read the segmentation'):
        converter.main([root])
