"""Writers of the on-disk formats the benchmark dataset classes read.

Tests use them to make tiny synthetic copies of each benchmark in its real layout, so the
dataset classes, converters and configs are exercised exactly as on the real data.

Every segmentation writer takes ``samples``: an iterable of ``(name, image, labels)`` where
``name`` is the file stem, ``image`` an RGB ``uint8`` array ``(H, W, 3)`` and ``labels`` an
integer array ``(H, W)`` in the label convention of that format (documented per writer).
Images are written with OpenCV (RGB converted to BGR). Output is deterministic: the same
inputs give byte-identical files. Each writer returns the sorted list of names written.

Layouts (``root`` is the folder a config's ``data_root`` points at):

=====================  ===================================================================
writer                 layout under ``root``
=====================  ===================================================================
write_ade20k           images/{split}/{name}.jpg, annotations/{split}/{name}.png
write_ade20k_full      images_detectron2/{split}/{name}.jpg,
                       annotations_detectron2/{split}/{name}.tif (uint16)
write_voc              JPEGImages/, SegmentationClass/ (palette PNG), ImageSets/Segmentation/
write_pascal_context   JPEGImages/, SegmentationClassContext/, ImageSets/SegmentationContext/
write_pascal_context_459
                       JPEGImages/, annotations_detectron2/pc459_{split}/{name}.tif (uint16),
                       ImageSets/SegmentationContext/
write_coco_stuff       images/{split}/{name}.jpg, annotations/{split}/{name}_labelTrainIds.png
write_coco_object      images/{split}/{name}.jpg,
                       annotations/{split}/{name}_instanceTrainIds.png
write_cityscapes       leftImg8bit/{split}/{city}/{name}_leftImg8bit.png,
                       gtFine/{split}/{city}/{name}_gtFine_labelTrainIds.png
=====================  ===================================================================

Raw releases, the input of ``tools/dataset_converters``:

=====================  ===================================================================
write_coco_stuff_raw   images/{split}/{name}.jpg, annotations/{split}/{name}.png
write_pascal_context_raw
                       JPEGImages/{name}.jpg, trainval/{name}.mat (``LabelMap``),
                       ImageSets/Main/{split}.txt
write_ade20k_full_raw  index_ade20k.pkl, images/ADE/{training,validation}/synthetic/
                       {name}.jpg and {name}_seg.png
=====================  ===================================================================
"""
import json
import os
import os.path as osp
import pickle
from typing import Iterable, List, Optional, Sequence, Tuple

import cv2
import numpy as np
from PIL import Image

Sample = Tuple[str, np.ndarray, np.ndarray]

#: Value marking pixels to ignore in 16-bit label maps (ADE-847, PASCAL Context-459),
#: as SAN and CAT-Seg store them.
IGNORE_INDEX_16BIT = 65535


def voc_palette(num_colors: int = 256) -> np.ndarray:
    """The PASCAL VOC colour map: ``(num_colors, 3)`` uint8, index 255 is the ignore colour.

    Colour ``i`` spreads the bits of ``i`` over the high bits of R, G and B, as the VOC
    devkit's ``VOClabelcolormap.m`` does.
    """
    palette = np.zeros((num_colors, 3), dtype=np.uint8)
    for index in range(num_colors):
        value, r, g, b = index, 0, 0, 0
        for bit in range(8):
            r |= ((value >> 0) & 1) << (7 - bit)
            g |= ((value >> 1) & 1) << (7 - bit)
            b |= ((value >> 2) & 1) << (7 - bit)
            value >>= 3
        palette[index] = (r, g, b)
    return palette


def _check_sample(name: str, image: np.ndarray, labels: np.ndarray) -> None:
    if not name or '/' in name or '\\' in name:
        raise ValueError(f'sample name {name!r} must be a non-empty file stem without a folder')
    if image.dtype != np.uint8 or image.ndim != 3 or image.shape[2] != 3:
        raise ValueError(f'sample {name!r}: the image must be RGB uint8 (H, W, 3), '
                         f'got {image.dtype} {image.shape}')
    if labels.ndim != 2 or labels.shape != image.shape[:2]:
        raise ValueError(f'sample {name!r}: labels must be (H, W) = {image.shape[:2]}, '
                         f'got {labels.shape}')
    if not np.issubdtype(labels.dtype, np.integer):
        raise ValueError(f'sample {name!r}: labels must be integers, got {labels.dtype}')


def _as_dtype(name: str, labels: np.ndarray, dtype) -> np.ndarray:
    info = np.iinfo(dtype)
    if labels.size and (labels.min() < info.min or labels.max() > info.max):
        raise ValueError(f'sample {name!r}: label values {labels.min()}..{labels.max()} do not '
                         f'fit in {np.dtype(dtype).name}')
    return labels.astype(dtype)


def write_rgb_image(path: str, image: np.ndarray) -> None:
    """Write an RGB uint8 image with OpenCV (the format follows the file extension)."""
    os.makedirs(osp.dirname(path) or '.', exist_ok=True)
    if not cv2.imwrite(path, np.ascontiguousarray(image[..., ::-1])):
        raise OSError(f'OpenCV could not write {path}')


def write_panoptic_png(path: str, segment_ids: np.ndarray) -> None:
    """Write a COCO-panoptic PNG: segment id = R + 256·G + 256²·B (0 void), as ``panoptic_ids`` reads it."""
    segment_ids = np.asarray(segment_ids, dtype=np.int64)
    rgb = np.stack([segment_ids % 256, segment_ids // 256 % 256, segment_ids // 65536], axis=-1)
    write_rgb_image(path, rgb.astype(np.uint8))


def write_label_png(path: str, labels: np.ndarray) -> None:
    """Write a single-channel uint8 or uint16 label map as a PNG."""
    os.makedirs(osp.dirname(path) or '.', exist_ok=True)
    if labels.dtype not in (np.uint8, np.uint16):
        raise ValueError(f'{path}: label PNGs are uint8 or uint16, got {labels.dtype}')
    if not cv2.imwrite(path, np.ascontiguousarray(labels)):
        raise OSError(f'OpenCV could not write {path}')


def write_label_tif(path: str, labels: np.ndarray) -> None:
    """Write a uint16 label map as a single-page TIFF (Pillow mode ``I;16``, as SAN/CAT-Seg)."""
    os.makedirs(osp.dirname(path) or '.', exist_ok=True)
    Image.fromarray(_as_dtype(path, labels, np.uint16)).save(path, format='TIFF')


def write_palette_png(path: str, labels: np.ndarray,
                      palette: Optional[np.ndarray] = None) -> None:
    """Write a uint8 label map as an indexed (palette) PNG, as VOC's ``SegmentationClass``."""
    os.makedirs(osp.dirname(path) or '.', exist_ok=True)
    palette = voc_palette() if palette is None else palette
    image = Image.fromarray(_as_dtype(path, labels, np.uint8))
    image.putpalette(palette.astype(np.uint8).ravel().tolist())  # turns the L image into P
    image.save(path, format='PNG')


def update_split_list(path: str, names: Iterable[str]) -> List[str]:
    """Add ``names`` to the split list at ``path`` (one name per line, sorted, no duplicates).

    Merging (rather than overwriting) lets several writers, or several calls, fill one split.
    """
    existing = set()
    if osp.isfile(path):
        with open(path) as f:
            existing = {line.strip() for line in f if line.strip()}
    merged = sorted(existing | set(names))
    os.makedirs(osp.dirname(path) or '.', exist_ok=True)
    with open(path, 'w') as f:
        f.writelines(name + '\n' for name in merged)
    return merged


def _write_pairs(samples: Iterable[Sample], image_path, label_path, label_writer,
                 label_dtype) -> List[str]:
    names = []
    for name, image, labels in samples:
        image, labels = np.asarray(image), np.asarray(labels)
        _check_sample(name, image, labels)
        write_rgb_image(image_path(name), image)
        label_writer(label_path(name), _as_dtype(name, labels, label_dtype))
        names.append(name)
    return sorted(names)


def write_ade20k(root: str, split: str, samples: Iterable[Sample],
                 image_ext: str = '.jpg') -> List[str]:
    """ADEChallengeData2016 (ADE-150) layout.

    ``root/images/{split}/{name}{image_ext}`` and ``root/annotations/{split}/{name}.png``.

    Args:
        root: the ``ADEChallengeData2016`` folder.
        split: ``'training'`` or ``'validation'``.
        samples: ``(name, image, labels)``; labels follow ADE's raw convention: 0 =
            other/unlabelled, 1..150 = classes (read with ``reduce_zero_label=True``).
        image_ext: ``'.jpg'`` as released, or ``'.png'`` for lossless test images.
    """
    return _write_pairs(
        samples,
        lambda n: osp.join(root, 'images', split, n + image_ext),
        lambda n: osp.join(root, 'annotations', split, n + '.png'),
        write_label_png, np.uint8)


def write_ade20k_full(root: str, split: str, samples: Iterable[Sample],
                      image_ext: str = '.jpg') -> List[str]:
    """ADE20K-full (ADE-847) in the layout SAN and CAT-Seg prepare.

    ``root/images_detectron2/{split}/{name}{image_ext}`` and
    ``root/annotations_detectron2/{split}/{name}.tif`` (uint16 TIFF).

    Args:
        root: the ``ADE20K_2021_17_01`` folder.
        split: ``'training'`` or ``'validation'``.
        samples: ``(name, image, labels)``; labels 0..846 = classes, 65535 = ignore.
    """
    return _write_pairs(
        samples,
        lambda n: osp.join(root, 'images_detectron2', split, n + image_ext),
        lambda n: osp.join(root, 'annotations_detectron2', split, n + '.tif'),
        write_label_tif, np.uint16)


def write_voc(root: str, split: str, samples: Iterable[Sample]) -> List[str]:
    """PASCAL VOC 2012 segmentation layout.

    ``root/JPEGImages/{name}.jpg``, ``root/SegmentationClass/{name}.png`` (palette PNG) and
    ``root/ImageSets/Segmentation/{split}.txt`` (merged with an existing list).

    Args:
        root: the ``VOCdevkit/VOC2012`` folder.
        split: ``'train'``, ``'val'`` or ``'trainval'``.
        samples: ``(name, image, labels)``; labels 0 = background, 1..20 = classes,
            255 = ignore (object borders).
    """
    names = _write_pairs(
        samples,
        lambda n: osp.join(root, 'JPEGImages', n + '.jpg'),
        lambda n: osp.join(root, 'SegmentationClass', n + '.png'),
        write_palette_png, np.uint8)
    update_split_list(osp.join(root, 'ImageSets', 'Segmentation', split + '.txt'), names)
    return names


def write_pascal_context(root: str, split: str, samples: Iterable[Sample]) -> List[str]:
    """PASCAL Context-59/60 in the layout of mmseg's ``pascal_context.py`` converter.

    ``root/JPEGImages/{name}.jpg``, ``root/SegmentationClassContext/{name}.png`` (uint8) and
    ``root/ImageSets/SegmentationContext/{split}.txt`` (merged with an existing list).

    Args:
        root: the ``VOCdevkit/VOC2010`` folder.
        split: ``'train'`` or ``'val'``.
        samples: ``(name, image, labels)``; labels 0 = background (every class outside the
            59), 1..59 = the 59 classes in alphabetical order. Context-60 reads them as they
            are, Context-59 with ``reduce_zero_label=True``.
    """
    names = _write_pairs(
        samples,
        lambda n: osp.join(root, 'JPEGImages', n + '.jpg'),
        lambda n: osp.join(root, 'SegmentationClassContext', n + '.png'),
        write_label_png, np.uint8)
    update_split_list(osp.join(root, 'ImageSets', 'SegmentationContext', split + '.txt'), names)
    return names


def write_pascal_context_459(root: str, split: str, samples: Iterable[Sample]) -> List[str]:
    """PASCAL Context-459 in the layout CAT-Seg prepares (images shared with Context-59/60).

    ``root/JPEGImages/{name}.jpg``, ``root/annotations_detectron2/pc459_{split}/{name}.tif``
    (uint16 TIFF) and ``root/ImageSets/SegmentationContext/{split}.txt`` (merged).

    Args:
        root: the ``VOCdevkit/VOC2010`` folder.
        split: ``'train'`` or ``'val'``.
        samples: ``(name, image, labels)``; labels 0..458 = classes in ``labels.txt`` order
            (its index minus one), 65535 = ignore.
    """
    names = _write_pairs(
        samples,
        lambda n: osp.join(root, 'JPEGImages', n + '.jpg'),
        lambda n: osp.join(root, 'annotations_detectron2', f'pc459_{split}', n + '.tif'),
        write_label_tif, np.uint16)
    update_split_list(osp.join(root, 'ImageSets', 'SegmentationContext', split + '.txt'), names)
    return names


def write_coco_stuff(root: str, split: str, samples: Iterable[Sample]) -> List[str]:
    """COCO-Stuff-164k (171 classes) as mmseg's ``coco_stuff164k.py`` converter leaves it.

    ``root/images/{split}/{name}.jpg`` and ``root/annotations/{split}/{name}_labelTrainIds.png``.

    Args:
        root: the ``coco_stuff164k`` folder.
        split: ``'train2017'`` or ``'val2017'``.
        samples: ``(name, image, labels)``; labels 0..170 = train ids, 255 = ignore.
    """
    return _write_pairs(
        samples,
        lambda n: osp.join(root, 'images', split, n + '.jpg'),
        lambda n: osp.join(root, 'annotations', split, n + '_labelTrainIds.png'),
        write_label_png, np.uint8)


def write_coco_stuff_raw(root: str, split: str, samples: Iterable[Sample]) -> List[str]:
    """COCO-Stuff-164k as released (``stuffthingmaps_trainval2017``), the converters' input.

    ``root/images/{split}/{name}.jpg`` and ``root/annotations/{split}/{name}.png``.

    Args:
        root: the ``coco_stuff164k`` folder.
        split: ``'train2017'`` or ``'val2017'``.
        samples: ``(name, image, labels)``; labels = COCO category id - 1 (0..181; things
            0..89, stuff 91..181), 255 = unlabelled.
    """
    return _write_pairs(
        samples,
        lambda n: osp.join(root, 'images', split, n + '.jpg'),
        lambda n: osp.join(root, 'annotations', split, n + '.png'),
        write_label_png, np.uint8)


def write_coco_object(root: str, split: str, samples: Iterable[Sample]) -> List[str]:
    """COCO-Object as SCLIP's ``cvt_coco_object.py`` leaves it (COCO-Stuff-164k folders).

    ``root/images/{split}/{name}.jpg`` and
    ``root/annotations/{split}/{name}_instanceTrainIds.png``.

    Args:
        root: the ``coco_stuff164k`` folder.
        split: ``'train2017'`` or ``'val2017'``.
        samples: ``(name, image, labels)``; labels 0 = background (stuff and unlabelled),
            1..80 = the 80 COCO thing classes in category-id order.
    """
    return _write_pairs(
        samples,
        lambda n: osp.join(root, 'images', split, n + '.jpg'),
        lambda n: osp.join(root, 'annotations', split, n + '_instanceTrainIds.png'),
        write_label_png, np.uint8)


def _cityscapes_city(name: str) -> str:
    parts = name.split('_')
    if len(parts) != 3 or not all(parts):
        raise ValueError(f'Cityscapes sample name {name!r} must be '
                         "{city}_{sequence}_{frame}, e.g. 'frankfurt_000000_000294'")
    return parts[0]


def write_cityscapes(root: str, split: str, samples: Iterable[Sample]) -> List[str]:
    """Cityscapes fine annotations after ``createTrainIdLabelImgs`` / mmseg's converter.

    ``root/leftImg8bit/{split}/{city}/{name}_leftImg8bit.png`` and
    ``root/gtFine/{split}/{city}/{name}_gtFine_labelTrainIds.png``.

    Args:
        root: the ``cityscapes`` folder.
        split: ``'train'``, ``'val'`` or ``'test'``.
        samples: ``(name, image, labels)`` with ``name`` = ``{city}_{sequence}_{frame}``;
            labels 0..18 = train ids, 255 = ignore.
    """
    return _write_pairs(
        samples,
        lambda n: osp.join(root, 'leftImg8bit', split, _cityscapes_city(n),
                           n + '_leftImg8bit.png'),
        lambda n: osp.join(root, 'gtFine', split, _cityscapes_city(n),
                           n + '_gtFine_labelTrainIds.png'),
        write_label_png, np.uint8)


def write_pascal_context_raw(root: str, split: str, samples: Iterable[Sample]) -> List[str]:
    """PASCAL Context as released (``trainval.tar.gz``) inside VOC2010, the converter's input.

    ``root/JPEGImages/{name}.jpg``, ``root/trainval/{name}.mat`` (MATLAB file with a uint16
    ``LabelMap``) and ``root/ImageSets/Main/{split}.txt`` (merged with an existing list).

    Args:
        root: the ``VOCdevkit/VOC2010`` folder.
        split: ``'train'`` or ``'val'``.
        samples: ``(name, image, labels)``; labels are ``labels.txt`` indices 1..459
            (0 = unlabelled).
    """
    from scipy.io import savemat  # scipy comes with mmseg; only this writer needs it

    def write_mat(path, labels):
        os.makedirs(osp.dirname(path), exist_ok=True)
        savemat(path, {'LabelMap': labels}, do_compression=True)

    names = _write_pairs(
        samples,
        lambda n: osp.join(root, 'JPEGImages', n + '.jpg'),
        lambda n: osp.join(root, 'trainval', n + '.mat'),
        write_mat, np.uint16)
    update_split_list(osp.join(root, 'ImageSets', 'Main', split + '.txt'), names)
    return names


def encode_ade_object_classes(object_classes: np.ndarray) -> np.ndarray:
    """ADE20K ``*_seg.png`` pixels (RGB) for object classes: R = class // 256 * 10,
    G = class % 256 (B, the instance channel, is 0), so that ``R / 10 * 256 + G`` decodes."""
    object_classes = np.asarray(object_classes, dtype=np.int64)
    if object_classes.size and (object_classes.min() < 0
                                or object_classes.max() > 25 * 256 + 255):
        raise ValueError('ADE object classes must be in 0..6655 to fit the R/G encoding')
    rgb = np.zeros(object_classes.shape + (3, ), dtype=np.uint8)
    rgb[..., 0] = object_classes // 256 * 10
    rgb[..., 1] = object_classes % 256
    return rgb


def write_ade20k_full_raw(root: str, samples: Iterable[Sample]) -> List[str]:
    """ADE20K-full as released (``ADE20K_2021_17_01``), the ADE-847 converter's input.

    Writes ``root/images/ADE/{training,validation}/synthetic/{name}.jpg`` with its
    ``{name}_seg.png`` and adds the images to ``root/index_ade20k.pkl`` (``folder`` entries
    are relative to the parent of ``root``, as in the release).

    Args:
        root: the ``ADE20K_2021_17_01`` folder.
        samples: ``(name, image, labels)``; names like ``ADE_val_00000001`` (the second
            ``_`` field ``val`` marks validation) and labels ADE object classes
            (0 = unlabelled).
    """
    index_path = osp.join(root, 'index_ade20k.pkl')
    index = dict(folder=[], filename=[])
    if osp.isfile(index_path):
        with open(index_path, 'rb') as f:
            index = pickle.load(f)
    parent, release = osp.split(osp.abspath(root))
    names = []
    for name, image, labels in samples:
        image, labels = np.asarray(image), np.asarray(labels)
        _check_sample(name, image, labels)
        split = 'validation' if name.split('_')[1:2] == ['val'] else 'training'
        folder = osp.join(release, 'images', 'ADE', split, 'synthetic')
        write_rgb_image(osp.join(parent, folder, name + '.jpg'), image)
        write_rgb_image(osp.join(parent, folder, name + '_seg.png'),
                        encode_ade_object_classes(labels))
        if name + '.jpg' not in index['filename']:
            index['folder'].append(folder)
            index['filename'].append(name + '.jpg')
        names.append(name)
    with open(index_path, 'wb') as f:
        pickle.dump(index, f)
    return sorted(names)


_IMAGE_KEYS = ('id', 'file_name', 'height', 'width')
_ANNOTATION_KEYS = ('id', 'image_id', 'category_id', 'bbox', 'area', 'iscrowd', 'segmentation')
_CATEGORY_KEYS = ('id', 'name', 'supercategory')


def _check_records(kind: str, records: Sequence[dict], keys: Sequence[str]) -> List[dict]:
    records = [dict(record) for record in records]
    for record in records:
        missing = [key for key in keys if key not in record]
        if missing:
            raise ValueError(f'COCO {kind} record {record!r} lacks {missing}')
    ids = [record['id'] for record in records]
    if len(set(ids)) != len(ids):
        raise ValueError(f'COCO {kind} ids must be unique')
    return records


def _to_builtin(value):
    """Numpy scalars/arrays to plain Python so ``json`` can write them."""
    if isinstance(value, dict):
        return {key: _to_builtin(item) for key, item in value.items()}
    if isinstance(value, (list, tuple)):
        return [_to_builtin(item) for item in value]
    if isinstance(value, np.ndarray):
        return value.tolist()
    if isinstance(value, np.generic):
        return value.item()
    if isinstance(value, bytes):
        return value.decode('ascii')
    return value


def write_coco_instances(json_path: str, images: Sequence[dict], annotations: Sequence[dict],
                         categories: Sequence[dict]) -> dict:
    """Write a COCO detection/instance json (``instances_*.json``).

    Args:
        json_path: output file.
        images: ``[{id, file_name, height, width}]``.
        annotations: ``[{id, image_id, category_id, bbox [x, y, w, h], area, iscrowd,
            segmentation}]``; segmentation is a list of polygons ``[[x0, y0, x1, y1, ...]]``
            or an RLE dict ``{'size': [h, w], 'counts': ...}``.
        categories: ``[{id, name, supercategory}]``.

    Extra keys (e.g. ``'split': 'base'`` on categories) are written unchanged. Every
    annotation must name an existing image and category. Returns the written dict.
    """
    images = _check_records('image', images, _IMAGE_KEYS)
    annotations = _check_records('annotation', annotations, _ANNOTATION_KEYS)
    categories = _check_records('category', categories, _CATEGORY_KEYS)
    image_ids = {image['id'] for image in images}
    category_ids = {category['id'] for category in categories}
    for ann in annotations:
        if ann['image_id'] not in image_ids:
            raise ValueError(f'annotation {ann["id"]} names unknown image {ann["image_id"]}')
        if ann['category_id'] not in category_ids:
            raise ValueError(f'annotation {ann["id"]} names unknown category {ann["category_id"]}')
        if len(ann['bbox']) != 4:
            raise ValueError(f'annotation {ann["id"]}: bbox must be [x, y, w, h]')
    content = _to_builtin(dict(images=images, annotations=annotations, categories=categories))
    os.makedirs(osp.dirname(json_path) or '.', exist_ok=True)
    with open(json_path, 'w') as f:
        json.dump(content, f, sort_keys=True)
    return content
