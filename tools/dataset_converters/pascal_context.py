"""Make PASCAL Context label maps: Context-59/60 and Context-459.

Context-59/60 (``VOC2010/SegmentationClassContext/{name}.png``, uint8: 0 = background, i.e.
every class outside the 59, then the 59 classes 1..59 in ``labels.txt`` order) and the split
lists ``VOC2010/ImageSets/SegmentationContext/{train,val}.txt``, from either source:

* ``--json trainval_merged.json`` (PASCAL in Detail), as mmseg's converter: each image's
  segmentation annotations are painted in the json's order with their category id (the
  ``labels.txt`` index), then the 59 ids are ranked. The json's phases give the splits.
  Needs ``pycocotools`` (installed with mmdet) to decode its RLE masks, not the Detail API.
* ``--mat-dir trainval`` (``trainval.tar.gz`` of the original PASCAL Context release): each
  ``{name}.mat`` ``LabelMap`` holds ``labels.txt`` indices (1..459); the 59 are ranked the
  same way, every other class becomes background. The splits are VOC2010's
  ``ImageSets/Main/{train,val}.txt`` (4998 / 5105 images) unless ``--json`` gives them.

Context-459 (``--targets context459``, needs ``--mat-dir``), as CAT-Seg/SAN prepare it:
``VOC2010/annotations_detectron2/pc459_{split}/{name}.tif``, uint16 ``LabelMap - 1``
(0..458), with 65535 for unlabelled pixels (the value 0 would wrap to in their code).

Examples::

    python tools/dataset_converters/pascal_context.py data/VOCdevkit/VOC2010 \
        --json data/VOCdevkit/VOC2010/trainval_merged.json
    python tools/dataset_converters/pascal_context.py data/VOCdevkit/VOC2010 \
        --mat-dir data/VOCdevkit/VOC2010/trainval --targets context60 context459
"""
import argparse
import json
import os.path as osp
import sys
from functools import partial

import numpy as np
from mmengine.utils import mkdir_or_exist, track_parallel_progress, track_progress
from PIL import Image

# ``labels.txt`` indices of Context-59's classes, sorted; rank + 1 is the Context-60 label.
from clipdense.datasets.class_lists import PASCAL_CONTEXT_59_LABEL_IDS as CONTEXT59_LABEL_IDS

NUM_CONTEXT_CLASSES = 459
IGNORE_16BIT = 65535
TARGETS = ('context60', 'context459')


def context60_lookup(strict: bool) -> np.ndarray:
    """``labels.txt`` index -> Context-60 label. With ``strict`` (the Detail json, whose
    categories are the 59 only), any other non-zero index is marked -1 (invalid)."""
    lookup = np.full(NUM_CONTEXT_CLASSES + 1, -1 if strict else 0, dtype=np.int16)
    lookup[0] = 0
    for rank, label_id in enumerate(CONTEXT59_LABEL_IDS):
        lookup[label_id] = rank + 1
    return lookup


def to_context60(label_ids: np.ndarray, lookup: np.ndarray, source: str) -> np.ndarray:
    if label_ids.size and (label_ids.min() < 0 or label_ids.max() >= len(lookup)):
        raise ValueError(f'{source}: label ids {label_ids.min()}..{label_ids.max()} are outside '
                         f'0..{NUM_CONTEXT_CLASSES}')
    labels = lookup[label_ids]
    if (labels < 0).any():
        bad = sorted(np.unique(label_ids[labels < 0]).tolist())
        raise ValueError(f'{source}: category ids {bad} are not Context-59 classes')
    return labels.astype(np.uint8)


def read_label_map(mat_dir: str, name: str) -> np.ndarray:
    """The ``LabelMap`` of ``{mat_dir}/{name}.mat`` as int64."""
    from scipy.io import loadmat
    path = osp.join(mat_dir, name + '.mat')
    try:
        content = loadmat(path)
    except FileNotFoundError:
        raise FileNotFoundError(f'{path!r} does not exist: is --mat-dir the unpacked '
                                'trainval/ folder of trainval.tar.gz?') from None
    except Exception as error:
        raise ValueError(f'could not read {path!r}: {error}') from error
    if 'LabelMap' not in content or np.ndim(content['LabelMap']) != 2:
        raise ValueError(f'{path!r} has no 2-D LabelMap; keys: '
                         f'{sorted(k for k in content if not k.startswith("__"))}')
    return np.asarray(content['LabelMap']).astype(np.int64)


def convert_mat(name: str, mat_dir: str, context60_dir, context459_dir) -> str:
    label_ids = read_label_map(mat_dir, name)
    source = osp.join(mat_dir, name + '.mat')
    if context60_dir:
        labels = to_context60(label_ids, context60_lookup(strict=False), source)
        Image.fromarray(labels).save(osp.join(context60_dir, name + '.png'))
    if context459_dir:
        if label_ids.size and label_ids.max() > NUM_CONTEXT_CLASSES:
            raise ValueError(f'{source}: label id {label_ids.max()} > {NUM_CONTEXT_CLASSES}')
        labels = np.where(label_ids > 0, label_ids - 1, IGNORE_16BIT).astype(np.uint16)
        Image.fromarray(labels).save(osp.join(context459_dir, name + '.tif'), 'TIFF')
    return name


def decode_rle(segmentation: dict, height: int, width: int) -> np.ndarray:
    try:
        from pycocotools import mask as mask_utils
    except ImportError as error:
        raise ImportError('--json needs pycocotools (installed with mmdet) to decode the '
                          'Detail masks: pip install pycocotools') from error
    if isinstance(segmentation, list):
        segmentation = mask_utils.merge(mask_utils.frPyObjects(segmentation, height, width))
    elif isinstance(segmentation.get('counts'), list):
        segmentation = mask_utils.frPyObjects(segmentation, height, width)
    return mask_utils.decode(segmentation).astype(bool)


def convert_detail_image(item, out_dir: str) -> str:
    """Paint one Detail image (``item`` = (image record, its segmentation annotations))."""
    image, annotations = item
    height, width = image['height'], image['width']
    label_ids = np.zeros((height, width), dtype=np.int64)
    for ann in annotations:
        label_ids[decode_rle(ann['segmentation'], height, width)] = ann['category_id']
    name = osp.splitext(image['file_name'])[0]
    labels = to_context60(label_ids, context60_lookup(strict=True), f'image {name}')
    Image.fromarray(labels).save(osp.join(out_dir, name + '.png'))
    return name


def load_detail(json_path: str, splits):
    """Split name -> [(image record, annotations in json order)] from trainval_merged.json."""
    try:
        with open(json_path) as f:
            data = json.load(f)
    except FileNotFoundError:
        sys.exit(f'error: the Detail json {json_path!r} does not exist')
    except json.JSONDecodeError as error:
        sys.exit(f'error: {json_path!r} is not valid json: {error}')
    missing = [key for key in ('images', 'annos_segmentation') if key not in data]
    if missing:
        sys.exit(f'error: {json_path!r} lacks {missing}; is it trainval_merged.json?')
    annotations = {}
    for ann in data['annos_segmentation']:
        annotations.setdefault(ann['image_id'], []).append(ann)
    return {split: [(image, annotations.get(image['image_id'], []))
                    for image in data['images'] if image.get('phase') == split]
            for split in splits}


def read_split(voc_root: str, split: str):
    path = osp.join(voc_root, 'ImageSets', 'Main', split + '.txt')
    if not osp.isfile(path):
        sys.exit(f'error: the split list {path!r} does not exist; give --json, or the VOC2010 '
                 'folder of VOCtrainval_03-May-2010.tar')
    with open(path) as f:
        return [line.split()[0] for line in f if line.strip()]


def run(function, items, nproc):
    if nproc > 1:
        return track_parallel_progress(function, items, nproc=nproc)
    return track_progress(function, items)


def write_list(path: str, names) -> None:
    mkdir_or_exist(osp.dirname(path))
    with open(path, 'w') as f:
        f.writelines(name + '\n' for name in sorted(names))


def parse_args(argv=None):
    parser = argparse.ArgumentParser(
        description='Write PASCAL Context-59/60 (SegmentationClassContext) and Context-459 '
        '(annotations_detectron2/pc459_{split}) label maps.')
    parser.add_argument('voc2010_root', help='the VOCdevkit/VOC2010 folder')
    parser.add_argument('--json', help='trainval_merged.json (PASCAL in Detail)')
    parser.add_argument('--mat-dir', help='the trainval/ folder of PASCAL Context\'s '
                        'trainval.tar.gz ({name}.mat with LabelMap)')
    parser.add_argument('--targets', nargs='+', choices=TARGETS, default=['context60'],
                        help='what to write (default: context60, read by Context-59 and -60)')
    parser.add_argument('--splits', nargs='+', default=['train', 'val'],
                        help='splits to convert (default: train val)')
    parser.add_argument('--nproc', type=int, default=1, help='worker processes')
    return parser.parse_args(argv)


def main(argv=None) -> None:
    args = parse_args(argv)
    root = args.voc2010_root
    if not osp.isdir(root):
        sys.exit(f'error: the VOC2010 folder {root!r} does not exist')
    if not args.json and not args.mat_dir:
        sys.exit('error: give --json trainval_merged.json and/or --mat-dir trainval/')
    if 'context459' in args.targets and not args.mat_dir:
        sys.exit('error: context459 needs --mat-dir (the json holds the 59 classes only)')
    if args.mat_dir and not osp.isdir(args.mat_dir):
        sys.exit(f'error: --mat-dir {args.mat_dir!r} does not exist; unpack trainval.tar.gz')

    detail = load_detail(args.json, args.splits) if args.json else None
    context60_dir = osp.join(root, 'SegmentationClassContext')
    for split in args.splits:
        if detail is not None:
            if not detail[split]:
                sys.exit(f'error: {args.json!r} has no image with phase {split!r}')
            names = sorted(osp.splitext(image['file_name'])[0] for image, _ in detail[split])
        else:
            names = read_split(root, split)
        write_list(osp.join(root, 'ImageSets', 'SegmentationContext', split + '.txt'), names)

        write60_from_json = 'context60' in args.targets and detail is not None
        if write60_from_json:
            mkdir_or_exist(context60_dir)
            print(f'{split}: painting {len(names)} Context-60 maps from {args.json}')
            run(partial(convert_detail_image, out_dir=context60_dir), detail[split], args.nproc)
        out60 = context60_dir if 'context60' in args.targets and not write60_from_json else None
        out459 = None
        if 'context459' in args.targets:
            out459 = osp.join(root, 'annotations_detectron2', f'pc459_{split}')
        if out60 or out459:
            for folder in (out60, out459):
                if folder:
                    mkdir_or_exist(folder)
            print(f'{split}: converting {len(names)} LabelMaps from {args.mat_dir} to '
                  f'{", ".join(folder for folder in (out60, out459) if folder)}')
            run(partial(convert_mat, mat_dir=args.mat_dir, context60_dir=out60,
                        context459_dir=out459), names, args.nproc)
        print(f'{split}: done, {len(names)} images')


if __name__ == '__main__':
    main()
