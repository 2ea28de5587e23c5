"""The benchmark dataset classes read tiny copies in their real on-disk formats.

Each copy is written by ``clipdense.datasets.writers`` and loaded through the real mmseg
pipeline (LoadImageFromFile, LoadAnnotations or Load16BitAnnotations, PackSegInputs); the
packed ground truth must be the written labels under the dataset's label convention.
"""
import json
import os.path as osp

import numpy as np
import pytest
from PIL import Image

import clipdense.datasets  # noqa: F401  (registers the datasets and transforms)
from clipdense.datasets import writers
from clipdense.datasets.class_lists import (ADE20K_847_CLASSES, ADE20K_847_OBJECT_IDS,
                                            PASCAL_CONTEXT_59_LABEL_IDS,
                                            PASCAL_CONTEXT_459_CLASSES)
from clipdense.registry import DATASETS

HEIGHT, WIDTH = 6, 9
IGNORE = 255
IGNORE_16BIT = 65535


pytestmark = pytest.mark.usefixtures('clipdense_scope')


def random_image(rng):
    return rng.integers(0, 256, (HEIGHT, WIDTH, 3), dtype=np.uint8)


def labels_covering(values, rng, dtype=np.uint8):
    """An (H, W) map in which every value of ``values`` appears, the rest random among them."""
    values = np.asarray(values)
    labels = rng.choice(values, size=HEIGHT * WIDTH)
    labels[:len(values)] = values
    return rng.permutation(labels).reshape(HEIGHT, WIDTH).astype(dtype)


def pipeline(loader='LoadAnnotations'):
    return [dict(type='LoadImageFromFile'), dict(type=loader), dict(type='PackSegInputs')]


def load_all(dataset_cfg):
    """Build the dataset and run its pipeline on every sample: {image name: (gt, sample)}."""
    dataset = DATASETS.build(dataset_cfg)
    loaded = {}
    for index in range(len(dataset)):
        packed = dataset[index]
        sample = packed['data_samples']
        name = osp.basename(sample.img_path).split('.')[0].replace('_leftImg8bit', '')
        loaded[name] = (sample.gt_sem_seg.data[0].numpy(), packed['inputs'])
    return dataset, loaded


def reduce_zero(labels, ignore=IGNORE):
    """mmseg's reduce_zero_label: 0 -> ignore, ignore stays, the rest shift down by one."""
    labels = labels.astype(np.int64)
    return np.where((labels == 0) | (labels == ignore), ignore, labels - 1)


def check(loaded, written, expected_fn):
    assert sorted(loaded) == sorted(written)
    for name, labels in written.items():
        gt, inputs = loaded[name]
        assert tuple(inputs.shape) == (3, HEIGHT, WIDTH)
        np.testing.assert_array_equal(gt, expected_fn(labels), err_msg=name)


def test_voc21_mmseg(tmp_path):
    rng = np.random.default_rng(0)
    root = str(tmp_path / 'VOCdevkit' / 'VOC2012')
    written = {f'2007_00000{i}': labels_covering([0, 1, 7, 20, IGNORE], rng) for i in range(2)}
    writers.write_voc(root, 'val', [(n, random_image(rng), l) for n, l in written.items()])
    dataset, loaded = load_all(dict(
        type='PascalVOCDataset', data_root=root, ann_file='ImageSets/Segmentation/val.txt',
        data_prefix=dict(img_path='JPEGImages', seg_map_path='SegmentationClass'),
        pipeline=pipeline()))
    assert len(dataset.metainfo['classes']) == 21
    check(loaded, written, lambda labels: labels)


def test_voc20_drops_background(tmp_path):
    rng = np.random.default_rng(1)
    root = str(tmp_path / 'VOC2012')
    written = {f'2007_00000{i}': labels_covering([0, 1, 2, 15, 20, IGNORE], rng)
               for i in range(3)}
    writers.write_voc(root, 'val', [(n, random_image(rng), l) for n, l in written.items()])
    dataset, loaded = load_all(dict(
        type='PascalVOC20Dataset', data_root=root, ann_file='ImageSets/Segmentation/val.txt',
        data_prefix=dict(img_path='JPEGImages', seg_map_path='SegmentationClass'),
        pipeline=pipeline()))
    classes = dataset.metainfo['classes']
    assert len(classes) == 20 and classes[0] == 'aeroplane' and classes[-1] == 'tvmonitor'
    check(loaded, written, reduce_zero)
    gt = loaded['2007_000000'][0]
    assert gt.max() == IGNORE and set(np.unique(gt)) == {0, 1, 14, 19, IGNORE}


def test_pascal_context_60_and_59_mmseg(tmp_path):
    rng = np.random.default_rng(2)
    root = str(tmp_path / 'VOC2010')
    written = {f'2008_00000{i}': labels_covering([0, 1, 30, 59], rng) for i in range(2)}
    writers.write_pascal_context(root, 'val', [(n, random_image(rng), l)
                                               for n, l in written.items()])
    common = dict(data_root=root, ann_file='ImageSets/SegmentationContext/val.txt',
                  data_prefix=dict(img_path='JPEGImages', seg_map_path='SegmentationClassContext'),
                  pipeline=pipeline())
    dataset60, loaded60 = load_all(dict(type='PascalContextDataset', **common))
    assert len(dataset60.metainfo['classes']) == 60
    check(loaded60, written, lambda labels: labels)
    dataset59, loaded59 = load_all(dict(type='PascalContextDataset59', **common))
    assert len(dataset59.metainfo['classes']) == 59
    check(loaded59, written, reduce_zero)


def test_coco_object_keeps_background(tmp_path):
    rng = np.random.default_rng(3)
    root = str(tmp_path / 'coco_stuff164k')
    written = {'000000000139': labels_covering([0, 1, 42, 80], rng)}
    writers.write_coco_object(root, 'val2017', [(n, random_image(rng), l)
                                                for n, l in written.items()])
    dataset, loaded = load_all(dict(
        type='COCOObjectDataset', data_root=root,
        data_prefix=dict(img_path='images/val2017', seg_map_path='annotations/val2017'),
        pipeline=pipeline()))
    classes = dataset.metainfo['classes']
    assert len(classes) == 81
    assert (classes[0], classes[1], classes[80]) == ('background', 'person', 'toothbrush')
    assert len(dataset.metainfo['palette']) == 81
    check(loaded, written, lambda labels: labels)


def test_coco_stuff_171_mmseg(tmp_path):
    rng = np.random.default_rng(4)
    root = str(tmp_path / 'coco_stuff164k')
    written = {'000000000285': labels_covering([0, 79, 80, 170, IGNORE], rng)}
    writers.write_coco_stuff(root, 'val2017', [(n, random_image(rng), l)
                                               for n, l in written.items()])
    dataset, loaded = load_all(dict(
        type='COCOStuffDataset', data_root=root,
        data_prefix=dict(img_path='images/val2017', seg_map_path='annotations/val2017'),
        pipeline=pipeline()))
    assert len(dataset.metainfo['classes']) == 171
    check(loaded, written, lambda labels: labels)


def test_cityscapes_mmseg(tmp_path):
    rng = np.random.default_rng(5)
    root = str(tmp_path / 'cityscapes')
    written = {'frankfurt_000000_000294': labels_covering([0, 10, 18, IGNORE], rng),
               'lindau_000001_000019': labels_covering([1, 2, IGNORE], rng)}
    images = {name: random_image(rng) for name in written}
    writers.write_cityscapes(root, 'val', [(n, images[n], l) for n, l in written.items()])
    dataset, loaded = load_all(dict(
        type='CityscapesDataset', data_root=root,
        data_prefix=dict(img_path='leftImg8bit/val', seg_map_path='gtFine/val'),
        pipeline=pipeline()))
    assert len(dataset.metainfo['classes']) == 19
    check(loaded, written, lambda labels: labels)
    # PNG images are lossless: the packed input is the written image, in BGR.
    inputs = loaded['lindau_000001_000019'][1].numpy().transpose(1, 2, 0)
    np.testing.assert_array_equal(inputs, images['lindau_000001_000019'][..., ::-1])


def test_ade20k_150_mmseg(tmp_path):
    rng = np.random.default_rng(6)
    root = str(tmp_path / 'ADEChallengeData2016')
    written = {'ADE_val_00000001': labels_covering([0, 1, 75, 150], rng)}
    writers.write_ade20k(root, 'validation', [(n, random_image(rng), l)
                                              for n, l in written.items()])
    dataset, loaded = load_all(dict(
        type='ADE20KDataset', data_root=root,
        data_prefix=dict(img_path='images/validation', seg_map_path='annotations/validation'),
        pipeline=pipeline()))
    assert len(dataset.metainfo['classes']) == 150
    check(loaded, written, reduce_zero)


def test_ade20k_847_keeps_16_bit_ids(tmp_path):
    rng = np.random.default_rng(7)
    root = str(tmp_path / 'ADE20K_2021_17_01')
    # 256 and 511 would alias 0 and 255 in uint8; 846 is the last class.
    values = [0, 1, 255, 256, 511, 846, IGNORE_16BIT]
    written = {'ADE_val_00000001': labels_covering(values, rng, np.uint16)}
    writers.write_ade20k_full(root, 'validation', [(n, random_image(rng), l)
                                                   for n, l in written.items()])
    cfg = dict(type='ADE20K847Dataset', data_root=root,
               data_prefix=dict(img_path='images_detectron2/validation',
                                seg_map_path='annotations_detectron2/validation'),
               pipeline=pipeline('Load16BitAnnotations'))
    dataset, loaded = load_all(cfg)
    assert len(dataset.metainfo['classes']) == 847 == len(ADE20K_847_CLASSES)
    assert dataset.metainfo['classes'][0] == 'wall'
    assert dataset.ignore_index == IGNORE_16BIT
    check(loaded, written, lambda labels: labels)

    # mmseg's own loader casts to uint8 and folds the ids (256 -> 0): the dataset refuses it.
    from mmseg.datasets.transforms import LoadAnnotations
    info = dataset.get_data_info(0)
    folded = LoadAnnotations()(dict(info, seg_fields=[]))['gt_seg_map']
    assert not np.array_equal(folded, written['ADE_val_00000001'])
    with pytest.raises(ValueError, match='Load16BitAnnotations'):
        DATASETS.build(dict(cfg, pipeline=pipeline('LoadAnnotations')))


def test_pascal_context_459_keeps_16_bit_ids(tmp_path):
    rng = np.random.default_rng(8)
    root = str(tmp_path / 'VOC2010')
    written = {f'2008_00000{i}': labels_covering([0, 300, 458, IGNORE_16BIT], rng, np.uint16)
               for i in range(2)}
    writers.write_pascal_context_459(root, 'val', [(n, random_image(rng), l)
                                                   for n, l in written.items()])
    dataset, loaded = load_all(dict(
        type='PascalContext459Dataset', data_root=root,
        ann_file='ImageSets/SegmentationContext/val.txt',
        data_prefix=dict(img_path='JPEGImages', seg_map_path='annotations_detectron2/pc459_val'),
        pipeline=pipeline('Load16BitAnnotations')))
    classes = dataset.metainfo['classes']
    assert len(classes) == 459 == len(PASCAL_CONTEXT_459_CLASSES)
    assert (classes[0], classes[2], classes[458]) == ('accordion', 'air conditioner', 'wool')
    check(loaded, written, lambda labels: labels)


def test_class_lists_are_consistent():
    assert len(set(ADE20K_847_CLASSES)) == 847
    assert len(set(ADE20K_847_OBJECT_IDS)) == 847
    assert len(set(PASCAL_CONTEXT_459_CLASSES)) == 459
    # Context-59's labels.txt ids, ranked, name mmseg's Context-59 classes in order.
    from mmseg.datasets import PascalContextDataset59
    names = [PASCAL_CONTEXT_459_CLASSES[i - 1] for i in PASCAL_CONTEXT_59_LABEL_IDS]
    assert tuple(names) == tuple(PascalContextDataset59.METAINFO['classes'])
    assert list(PASCAL_CONTEXT_59_LABEL_IDS) == sorted(PASCAL_CONTEXT_59_LABEL_IDS)


def test_load_16_bit_reduce_zero_label(tmp_path):
    from clipdense.datasets.transforms import Load16BitAnnotations
    labels = np.array([[0, 1, 2], [300, IGNORE_16BIT, 0]], dtype=np.uint16)
    path = str(tmp_path / 'map.tif')
    writers.write_label_tif(path, labels)
    loader = Load16BitAnnotations()
    results = loader(dict(seg_map_path=path, reduce_zero_label=True, seg_fields=[]))
    np.testing.assert_array_equal(
        results['gt_seg_map'], [[IGNORE_16BIT, 0, 1], [299, IGNORE_16BIT, IGNORE_16BIT]])
    results = loader(dict(seg_map_path=path, reduce_zero_label=True, seg_fields=[],
                          label_map={299: 7}))
    assert results['gt_seg_map'][1, 0] == 7


def test_missing_folder_is_a_clear_error(tmp_path):
    with pytest.raises(FileNotFoundError, match=r'img_path folder .*images_detectron2'):
        DATASETS.build(dict(
            type='ADE20K847Dataset', data_root=str(tmp_path),
            data_prefix=dict(img_path='images_detectron2/validation',
                             seg_map_path='annotations_detectron2/validation'),
            pipeline=[]))
    writers.write_voc(str(tmp_path), 'val', [])
    (tmp_path / 'JPEGImages').mkdir()
    (tmp_path / 'SegmentationClass').mkdir()
    with pytest.raises(FileNotFoundError, match=r'split file .*test\.txt'):
        DATASETS.build(dict(
            type='PascalVOC20Dataset', data_root=str(tmp_path),
            ann_file='ImageSets/Segmentation/test.txt',
            data_prefix=dict(img_path='JPEGImages', seg_map_path='SegmentationClass'),
            pipeline=[]))


def test_corrupt_or_missing_annotation_is_a_clear_error(tmp_path):
    rng = np.random.default_rng(9)
    root = str(tmp_path / 'VOC2010')
    writers.write_pascal_context_459(
        root, 'val', [(f'2008_00000{i}', random_image(rng),
                       labels_covering([1, 2], rng, np.uint16)) for i in range(3)])
    ann_dir = osp.join(root, 'annotations_detectron2', 'pc459_val')
    with open(osp.join(ann_dir, '2008_000001.tif'), 'wb') as f:
        f.write(b'not a tiff')
    Image.fromarray(np.zeros((HEIGHT, WIDTH, 3), np.uint8)).save(
        osp.join(ann_dir, '2008_000002.tif'))
    dataset = DATASETS.build(dict(
        type='PascalContext459Dataset', data_root=root,
        ann_file='ImageSets/SegmentationContext/val.txt',
        data_prefix=dict(img_path='JPEGImages', seg_map_path='annotations_detectron2/pc459_val'),
        pipeline=pipeline('Load16BitAnnotations'), serialize_data=False))
    assert dataset[0]['data_samples'].gt_sem_seg.data.shape[-2:] == (HEIGHT, WIDTH)
    with pytest.raises(ValueError, match=r'could not decode the label map .*2008_000001\.tif'):
        dataset.pipeline(dataset.get_data_info(1))
    with pytest.raises(ValueError, match=r'2008_000002\.tif.*single-channel'):
        dataset.pipeline(dataset.get_data_info(2))
    import os
    os.remove(osp.join(ann_dir, '2008_000000.tif'))
    with pytest.raises(FileNotFoundError, match=r'2008_000000\.tif'):
        dataset.pipeline(dataset.get_data_info(0))


def test_writers_are_deterministic_and_validate(tmp_path):
    rng = np.random.default_rng(10)
    sample = ('a', random_image(rng), labels_covering([0, 5, IGNORE], rng))
    for run in ('one', 'two'):
        writers.write_voc(str(tmp_path / run), 'val', [sample])
    for rel in ('JPEGImages/a.jpg', 'SegmentationClass/a.png', 'ImageSets/Segmentation/val.txt'):
        assert (tmp_path / 'one' / rel).read_bytes() == (tmp_path / 'two' / rel).read_bytes()
    palette_png = Image.open(tmp_path / 'one' / 'SegmentationClass' / 'a.png')
    assert palette_png.mode == 'P'
    assert palette_png.getpalette()[3:6] == [128, 0, 0]  # VOC's aeroplane colour

    writers.write_voc(str(tmp_path / 'one'), 'val', [('b', *sample[1:])])
    assert (tmp_path / 'one/ImageSets/Segmentation/val.txt').read_text() == 'a\nb\n'

    with pytest.raises(ValueError, match='do not fit in uint8'):
        writers.write_voc(str(tmp_path), 'val', [('c', sample[1], np.full((HEIGHT, WIDTH), 300))])
    with pytest.raises(ValueError, match='labels must be'):
        writers.write_ade20k(str(tmp_path), 'validation', [('c', sample[1], np.zeros((2, 2)))])
    with pytest.raises(ValueError, match='city'):
        writers.write_cityscapes(str(tmp_path), 'val', [('noseparators', *sample[1:])])


def test_write_coco_instances(tmp_path):
    path = str(tmp_path / 'annotations' / 'instances_val2017.json')
    images = [dict(id=1, file_name='000000000001.jpg', height=4, width=5)]
    annotations = [dict(id=7, image_id=1, category_id=18, bbox=[1, 1, 2, 2], area=4,
                        iscrowd=0, segmentation=[[1, 1, 3, 1, 3, 3, 1, 3]])]
    categories = [dict(id=18, name='dog', supercategory='animal', split='novel')]
    writers.write_coco_instances(path, images, annotations, categories)
    with open(path) as f:
        content = json.load(f)
    assert content['categories'][0]['split'] == 'novel'
    from pycocotools.coco import COCO
    coco = COCO(path)
    assert coco.annToMask(coco.anns[7]).sum() > 0
    with pytest.raises(ValueError, match='unknown category'):
        writers.write_coco_instances(path, images, [dict(annotations[0], category_id=5)],
                                     categories)


# Each benchmark's base config, the writer of its layout, the split its test set reads and
# label values to write (with what the model must see).
BASE_CONFIGS = {
    'voc21': (writers.write_voc, 'val', [0, 20, IGNORE], lambda labels: labels, 21),
    'voc20': (writers.write_voc, 'val', [0, 20, IGNORE], reduce_zero, 20),
    'context60': (writers.write_pascal_context, 'val', [0, 59], lambda labels: labels, 60),
    'context59': (writers.write_pascal_context, 'val', [0, 59], reduce_zero, 59),
    'context459': (writers.write_pascal_context_459, 'val', [0, 458, IGNORE_16BIT],
                   lambda labels: labels, 459),
    'coco_object': (writers.write_coco_object, 'val2017', [0, 80], lambda labels: labels, 81),
    'coco_stuff164k': (writers.write_coco_stuff, 'val2017', [0, 170, IGNORE],
                       lambda labels: labels, 171),
    'cityscapes': (writers.write_cityscapes, 'val', [0, 18, IGNORE], lambda labels: labels, 19),
    'ade20k': (writers.write_ade20k, 'validation', [0, 150], reduce_zero, 150),
    'ade847': (writers.write_ade20k_full, 'validation', [0, 846, IGNORE_16BIT],
               lambda labels: labels, 847),
}


@pytest.mark.parametrize('name', sorted(BASE_CONFIGS))
def test_base_dataset_configs_read_the_written_layout(name, tmp_path):
    """configs/_base_/datasets/<name>.py's test set reads what the writer lays out."""
    from mmengine import Config
    config_path = osp.join(osp.dirname(__file__), '..', 'configs', '_base_', 'datasets',
                           name + '.py')
    if not osp.isfile(config_path):
        pytest.skip(f'{config_path} not written yet')
    writer, split, values, expected_fn, num_classes = BASE_CONFIGS[name]
    rng = np.random.default_rng(len(name))
    sample_name = 'frankfurt_000000_000294' if name == 'cityscapes' else '2008_000002'
    dtype = np.uint16 if IGNORE_16BIT in values else np.uint8
    labels = labels_covering(values, rng, dtype)
    writer(str(tmp_path), split, [(sample_name, random_image(rng), labels)])

    dataset_cfg = Config.fromfile(config_path).test_dataloader.dataset
    dataset_cfg.data_root = str(tmp_path)
    # The size check below needs the labels at their stored size.
    dataset_cfg.pipeline = [t for t in dataset_cfg.pipeline if t['type'] != 'Resize']
    dataset, loaded = load_all(dataset_cfg)
    assert len(dataset.metainfo['classes']) == num_classes
    check(loaded, {sample_name: labels}, expected_fn)
