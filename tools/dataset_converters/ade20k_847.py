"""Make ADE20K-847 label maps from ADE20K-full (``ADE20K_2021_17_01``), as SAN/CAT-Seg do.

Input: the ADE20K 2021 release: ``index_ade20k.pkl`` (its ``folder`` and ``filename``
lists; folders are relative to the release's parent folder) and, per image, ``{stem}.jpg``
with its ``{stem}_seg.png``, whose object class is ``R // 10 * 256 + G``.

Output (CAT-Seg's ``prepare_ade20k_full.py`` layout and semantics):
``images_detectron2/{split}/{name}.jpg`` and ``annotations_detectron2/{split}/{name}.tif``
(uint16): each of the 847 classes becomes its train id (0..846, the order of
``ADE20K847Dataset``), every other class and unlabelled pixels 65535. Images whose shorter
side exceeds ``--max-size`` (512) are resized so that it equals it (image bilinear, labels
nearest), and images are re-encoded with Pillow's defaults, as CAT-Seg does. A file is a
validation image when its name's second ``_`` field is ``val`` (``ADE_val_00000001.jpg``).

Example::

    python tools/dataset_converters/ade20k_847.py data/ADE20K_2021_17_01
"""
import argparse
import os.path as osp
import pickle
import sys
from functools import partial

import cv2
import numpy as np
from mmengine.utils import mkdir_or_exist, track_parallel_progress, track_progress
from PIL import Image

from clipdense.datasets.class_lists import ADE20K_847_OBJECT_IDS

IGNORE_16BIT = 65535
SPLITS = ('training', 'validation')


def split_of(file_name: str) -> str:
    parts = file_name.split('_')
    return 'validation' if len(parts) > 1 and parts[1] == 'val' else 'training'


def object_class_map(seg_path: str) -> np.ndarray:
    """ADE20K-full's per-pixel object class (``R / 10`` truncated, ``* 256 + G``), int32."""
    try:
        with Image.open(seg_path) as image:
            seg = np.array(image)
    except FileNotFoundError:
        raise FileNotFoundError(f'the segmentation {seg_path!r} does not exist') from None
    except Exception as error:
        raise ValueError(f'could not read the segmentation {seg_path!r}: {error}') from error
    if seg.ndim != 3 or seg.shape[2] < 3:
        raise ValueError(f'{seg_path!r} has shape {seg.shape}; ADE20K *_seg.png files are RGB')
    red, green = seg[:, :, 0], seg[:, :, 1]
    return (red / 10).astype(np.int32) * 256 + green.astype(np.int32)


def train_id_lookup(max_object_class: int) -> np.ndarray:
    """Object class -> train id (65535 for classes outside the 847)."""
    size = max(max_object_class, max(ADE20K_847_OBJECT_IDS)) + 1
    lookup = np.full(size, IGNORE_16BIT, dtype=np.uint16)
    lookup[list(ADE20K_847_OBJECT_IDS)] = np.arange(len(ADE20K_847_OBJECT_IDS))
    return lookup


def resized_shape(height: int, width: int, max_size: int):
    """CAT-Seg's rule: shrink so that the shorter side is ``max_size`` if both exceed it."""
    if width >= height > max_size:
        return max_size, round(width / float(height) * max_size)
    if height >= width > max_size:
        return round(height / float(width) * max_size), max_size
    return None


def convert_image(entry, dataset_parent: str, out_root: str, max_size: int) -> str:
    folder, file_name = entry
    image_path = osp.join(dataset_parent, folder, file_name)
    seg_path = image_path.replace('.jpg', '_seg.png')
    object_classes = object_class_map(seg_path)
    try:
        with Image.open(image_path) as image:
            pixels = np.asarray(image)
    except FileNotFoundError:
        raise FileNotFoundError(f'the image {image_path!r} does not exist') from None
    if pixels.shape[:2] != object_classes.shape:
        raise ValueError(f'{image_path!r} is {pixels.shape[:2]} but its segmentation is '
                         f'{object_classes.shape}')
    new_shape = resized_shape(*pixels.shape[:2], max_size)
    if new_shape:
        height, width = new_shape
        pixels = cv2.resize(pixels, (width, height), interpolation=cv2.INTER_LINEAR)
        object_classes = cv2.resize(object_classes, (width, height),
                                    interpolation=cv2.INTER_NEAREST)
    labels = train_id_lookup(int(object_classes.max()))[object_classes]

    split = split_of(file_name)
    Image.fromarray(pixels).save(osp.join(out_root, 'images_detectron2', split, file_name))
    label_name = osp.splitext(file_name)[0] + '.tif'
    Image.fromarray(labels).save(
        osp.join(out_root, 'annotations_detectron2', split, label_name), 'TIFF')
    return file_name


def load_index(root: str):
    path = osp.join(root, 'index_ade20k.pkl')
    if not osp.isfile(path):
        sys.exit(f'error: {path!r} does not exist; is {root!r} the unpacked ADE20K_2021_17_01 '
                 'folder?')
    try:
        with open(path, 'rb') as f:
            index = pickle.load(f)
        entries = list(zip(index['folder'], index['filename']))
    except (KeyError, TypeError, pickle.UnpicklingError, EOFError) as error:
        sys.exit(f'error: {path!r} is not an ADE20K index (needs folder and filename lists): '
                 f'{error!r}')
    return entries


def parse_args(argv=None):
    parser = argparse.ArgumentParser(
        description='Write ADE20K-847 label maps (uint16 TIFF, 65535 = ignore) and resized '
        'images from ADE20K_2021_17_01, as SAN/CAT-Seg prepare them.')
    parser.add_argument('ade_root', help='the ADE20K_2021_17_01 folder (with index_ade20k.pkl)')
    parser.add_argument('-o', '--out-dir', help='output folder (default: ade_root)')
    parser.add_argument('--splits', nargs='+', choices=SPLITS, default=['validation'],
                        help='splits to convert (default: validation, as CAT-Seg)')
    parser.add_argument('--max-size', type=int, default=512,
                        help='shorter-side size above which images are shrunk (default 512)')
    parser.add_argument('--nproc', type=int, default=1, help='worker processes')
    return parser.parse_args(argv)


def main(argv=None) -> None:
    args = parse_args(argv)
    root = osp.normpath(args.ade_root)
    out_root = args.out_dir or root
    entries = [entry for entry in load_index(root) if split_of(entry[1]) in args.splits]
    if not entries:
        sys.exit(f'error: the index lists no image of {args.splits}')
    for split in args.splits:
        mkdir_or_exist(osp.join(out_root, 'images_detectron2', split))
        mkdir_or_exist(osp.join(out_root, 'annotations_detectron2', split))
    print(f'converting {len(entries)} images of {", ".join(args.splits)} to {out_root}')
    convert = partial(convert_image, dataset_parent=osp.dirname(root), out_root=out_root,
                      max_size=args.max_size)
    if args.nproc > 1:
        track_parallel_progress(convert, entries, nproc=args.nproc)
    else:
        track_progress(convert, entries)
    print(f'done: {len(entries)} images')


if __name__ == '__main__':
    main()
