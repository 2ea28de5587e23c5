"""Make COCO-Object label maps (background + 80 things) next to COCO-Stuff-164k's.

Default source, as GroupViT/TCL/SCLIP's ``cvt_coco_object.py``: the released COCO-Stuff-164k
maps ``annotations/{split}/{name}.png`` (``stuffthingmaps_trainval2017``; value = COCO
category id - 1, 255 = unlabelled). Each thing becomes its rank among the 80 COCO thing
categories plus one (person 1 .. toothbrush 80); every stuff class and the unlabelled value
become 0 (background). The result is ``annotations/{split}/{name}_instanceTrainIds.png``.

Alternative source (``--instances-json``): COCO's ``instances_{split}.json``, for those
without COCO-Stuff. Non-crowd instances are painted in the json's order (a later instance
covers an earlier one, as cocostuffapi's ``cocoSegmentationToSegmentationMap`` with
``includeCrowd=False``); crowd regions and the rest stay background. The released
COCO-Stuff maps were made by the COCO-Stuff authors from the same instances, but this path
is not checked pixel-for-pixel against them: prefer the default for published numbers.

Examples::

    python tools/dataset_converters/coco_object.py data/coco_stuff164k
    python tools/dataset_converters/coco_object.py data/coco_stuff164k --splits val2017 \
        --instances-json data/coco/annotations/instances_val2017.json
"""
import argparse
import glob
import json
import os.path as osp
import shutil
import sys
from functools import partial

import numpy as np
from mmengine.utils import mkdir_or_exist, track_parallel_progress, track_progress
from PIL import Image

# COCO's 80 thing category ids (1..90 with gaps), in id order.
COCO_THING_IDS = (1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 13, 14, 15, 16, 17, 18, 19, 20, 21, 22, 23,
                  24, 25, 27, 28, 31, 32, 33, 34, 35, 36, 37, 38, 39, 40, 41, 42, 43, 44, 46, 47,
                  48, 49, 50, 51, 52, 53, 54, 55, 56, 57, 58, 59, 60, 61, 62, 63, 64, 65, 67, 70,
                  72, 73, 74, 75, 76, 77, 78, 79, 80, 81, 82, 84, 85, 86, 87, 88, 89, 90)
# COCO-Stuff's 91 stuff category ids.
COCO_STUFF_IDS = tuple(range(92, 183))
UNLABELLED = 255
SUFFIX = '_instanceTrainIds.png'


def stuffthing_lookup() -> np.ndarray:
    """Map a COCO-Stuff-164k pixel value to its COCO-Object label; -1 marks values never used."""
    lookup = np.full(256, -1, dtype=np.int16)
    for rank, category_id in enumerate(COCO_THING_IDS):
        lookup[category_id - 1] = rank + 1
    for category_id in COCO_STUFF_IDS:
        lookup[category_id - 1] = 0
    lookup[UNLABELLED] = 0
    return lookup


def convert_stuffthing_map(path: str, out_dir: str, lookup: np.ndarray) -> str:
    """Convert one COCO-Stuff-164k map; returns the written path."""
    try:
        raw = np.array(Image.open(path))
    except Exception as error:
        raise ValueError(f'could not read the COCO-Stuff map {path!r}: {error}') from error
    if raw.ndim != 2 or raw.dtype != np.uint8:
        raise ValueError(f'{path!r} is {raw.dtype} {raw.shape}; COCO-Stuff-164k maps are '
                         'single-channel uint8 PNGs')
    labels = lookup[raw]
    if (labels < 0).any():
        unknown = sorted(set(np.unique(raw[labels < 0]).tolist()))
        raise ValueError(f'{path!r} holds values {unknown} that are no COCO-Stuff category '
                         '(category id - 1) nor 255; is this a COCO-Stuff-164k map?')
    out_path = osp.join(out_dir, osp.basename(path).split('.')[0] + SUFFIX)
    Image.fromarray(labels.astype(np.uint8)).save(out_path, 'PNG')
    return out_path


def instance_masks_to_labels(image: dict, annotations: list) -> np.ndarray:
    """Paint one image's non-crowd thing instances in json order; background 0."""
    try:
        from pycocotools import mask as mask_utils
    except ImportError as error:
        raise ImportError('--instances-json needs pycocotools (installed with mmdet): '
                          'pip install pycocotools') from error
    height, width = image['height'], image['width']
    rank_of = {category_id: rank + 1 for rank, category_id in enumerate(COCO_THING_IDS)}
    labels = np.zeros((height, width), dtype=np.uint8)
    for ann in annotations:
        if ann.get('iscrowd', 0):
            continue
        if ann['category_id'] not in rank_of:
            raise ValueError(f'annotation {ann["id"]} has category {ann["category_id"]}, '
                             'which is not one of the 80 COCO thing categories')
        segmentation = ann['segmentation']
        if isinstance(segmentation, list):
            rle = mask_utils.merge(mask_utils.frPyObjects(segmentation, height, width))
        elif isinstance(segmentation.get('counts'), list):
            rle = mask_utils.frPyObjects(segmentation, height, width)
        else:
            rle = segmentation
        labels[mask_utils.decode(rle).astype(bool)] = rank_of[ann['category_id']]
    return labels


def convert_instances(json_path: str, out_dir: str) -> int:
    """Write a COCO-Object map for every image of a COCO instances json; returns the count."""
    with open(json_path) as f:
        coco_json = json.load(f)
    by_image = {image['id']: [] for image in coco_json['images']}
    for ann in coco_json['annotations']:
        if ann['image_id'] not in by_image:
            raise ValueError(f'{json_path}: annotation {ann["id"]} names unknown image '
                             f'{ann["image_id"]}')
        by_image[ann['image_id']].append(ann)

    def convert_one(image):
        labels = instance_masks_to_labels(image, by_image[image['id']])
        stem = osp.splitext(osp.basename(image['file_name']))[0]
        Image.fromarray(labels).save(osp.join(out_dir, stem + SUFFIX), 'PNG')

    track_progress(convert_one, coco_json['images'])
    return len(coco_json['images'])


def parse_args(argv=None):
    parser = argparse.ArgumentParser(
        description='Write COCO-Object label maps ({name}_instanceTrainIds.png: 0 background, '
        '1..80 things) into the COCO-Stuff-164k annotation folders.')
    parser.add_argument('coco_stuff_root',
                        help='the coco_stuff164k folder (images/{split}, annotations/{split})')
    parser.add_argument('-o', '--out-dir',
                        help='write here instead of in place (images are copied, as SCLIP does)')
    parser.add_argument('--splits', nargs='+', default=['train2017', 'val2017'],
                        help='splits to convert (default: train2017 val2017)')
    parser.add_argument('--instances-json', nargs='+',
                        help='read COCO instances json(s) instead of the COCO-Stuff maps, one '
                        'per split in --splits order')
    parser.add_argument('--nproc', type=int, default=1, help='worker processes')
    return parser.parse_args(argv)


def main(argv=None) -> None:
    args = parse_args(argv)
    root = args.coco_stuff_root
    out_root = args.out_dir or root
    if args.instances_json and len(args.instances_json) != len(args.splits):
        sys.exit(f'error: {len(args.instances_json)} --instances-json file(s) for '
                 f'{len(args.splits)} split(s) {args.splits}; give one json per split')
    for index, split in enumerate(args.splits):
        out_dir = osp.join(out_root, 'annotations', split)
        image_dir = osp.join(root, 'images', split)
        if args.instances_json:
            json_path = args.instances_json[index]
            if not osp.isfile(json_path):
                sys.exit(f'error: the instances json {json_path!r} does not exist')
            mkdir_or_exist(out_dir)
            print(f'{split}: painting instances from {json_path}')
            count = convert_instances(json_path, out_dir)
        else:
            in_dir = osp.join(root, 'annotations', split)
            if not osp.isdir(in_dir):
                sys.exit(f'error: {in_dir!r} does not exist; unpack stuffthingmaps_trainval2017'
                         f'.zip into {osp.join(root, "annotations")} (see docs/datasets.md)')
            paths = sorted(path for path in glob.glob(osp.join(in_dir, '*.png'))
                           if 'TrainIds' not in osp.basename(path))
            if not paths:
                sys.exit(f'error: no COCO-Stuff maps (*.png) in {in_dir!r}')
            mkdir_or_exist(out_dir)
            print(f'{split}: converting {len(paths)} COCO-Stuff maps from {in_dir}')
            convert = partial(convert_stuffthing_map, out_dir=out_dir, lookup=stuffthing_lookup())
            if args.nproc > 1:
                track_parallel_progress(convert, paths, nproc=args.nproc)
            else:
                track_progress(convert, paths)
            count = len(paths)
        if out_root != root and osp.isdir(image_dir):
            shutil.copytree(image_dir, osp.join(out_root, 'images', split), dirs_exist_ok=True)
        print(f'{split}: wrote {count} maps to {out_dir}')


if __name__ == '__main__':
    main()
