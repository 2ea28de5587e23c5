"""Write the synthetic world to disk in the benchmark formats.

Layout under ``out_dir`` (a config's ``data_root``)::

    images/{training,validation}/{name}.png        RGB scenes (lossless, so masks stay exact)
    annotations/{training,validation}/{name}.png   ADE20K-style labels: 0 = background, c + 1 = class c
    annotations/instances_{train,val}.json         COCO instances; categories carry 'split': base/novel; the
                                                   training file holds base instances only (OV-COCO's rule)
    meta.json                                      seed, counts, classes, seen/unseen classes, unseen_in_train

The segmentation set reads with ``reduce_zero_label=True`` (ADE20K convention), the detection set
with mmdet's ``CocoDataset`` (``data_prefix=dict(img='images/')``). Instance masks are
uncompressed COCO RLE, which keeps the holes of rings and crescents.
"""
import json
import os.path as osp
from typing import Dict, List

import numpy as np

from ..writers import write_ade20k, write_coco_instances
from .generator import Scene, SyntheticWorld
from .vocabulary import CLASSES, SEEN_CLASSES, SHAPES, UNSEEN_CLASSES, class_split

# Split name in the generator -> (ADE20K folder, COCO json suffix).
SPLIT_FOLDERS = {'train': ('training', 'train'), 'val': ('validation', 'val')}


def mask_to_rle(mask: np.ndarray) -> Dict[str, list]:
    """Uncompressed COCO RLE of a boolean mask: run lengths in column-major order, starting with
    a (possibly empty) run of zeros."""
    flat = np.asarray(mask, dtype=bool).ravel(order='F')
    change = np.flatnonzero(flat[1:] != flat[:-1]) + 1
    bounds = np.concatenate([[0], change, [flat.size]])
    counts = np.diff(bounds).tolist()
    if flat.size and flat[0]:
        counts = [0] + counts
    return {'size': [int(mask.shape[0]), int(mask.shape[1])], 'counts': counts}


def rle_to_mask(rle: Dict[str, list]) -> np.ndarray:
    """Inverse of :func:`mask_to_rle`."""
    height, width = rle['size']
    values = np.arange(len(rle['counts'])) % 2 == 1
    flat = np.repeat(values, rle['counts'])
    return flat.reshape((height, width), order='F')


def coco_categories() -> List[dict]:
    """COCO categories: id = class id + 1, supercategory = shape, split = base/novel."""
    return [dict(id=i + 1, name=name, supercategory=name.split(' ')[1], split=class_split(name))
            for i, name in enumerate(CLASSES)]


def write_synthetic_world(out_dir: str, num_train: int = 2000, num_val: int = 200,
                          seed: int = 0, unseen_in_train: bool = False) -> dict:
    """Generate and write the world's train and val splits; returns what ``meta.json`` holds.

    With ``unseen_in_train`` the training scenes also hold unseen objects (the transductive setting): the
    segmentation labels keep their true classes, which inductive and transductive configs must not train on, and
    the training json leaves their instances out, as OV-COCO's base training set does."""
    world = SyntheticWorld(seed, unseen_in_train=unseen_in_train)
    counts = {'train': num_train, 'val': num_val}
    for split, num in counts.items():
        ade_split, coco_split = SPLIT_FOLDERS[split]
        scenes = [(f'{split}_{index:06d}', world.scene(split, index)) for index in range(num)]
        write_ade20k(out_dir, ade_split, ((name, s.image, s.labels) for name, s in scenes),
                     image_ext='.png')
        images, annotations = _coco_records(scenes, ade_split, base_only=split == 'train')
        write_coco_instances(osp.join(out_dir, 'annotations', f'instances_{coco_split}.json'),
                             images, annotations, coco_categories())
    meta = dict(seed=seed, num_images=counts, classes=list(CLASSES), shapes=list(SHAPES),
                seen_classes=list(SEEN_CLASSES), unseen_classes=list(UNSEEN_CLASSES),
                unseen_in_train=unseen_in_train)
    with open(osp.join(out_dir, 'meta.json'), 'w') as f:
        json.dump(meta, f, indent=1)
    return meta


def _coco_records(scenes: List[tuple], ade_split: str, base_only: bool):
    images, annotations = [], []
    for image_id, (name, scene) in enumerate(scenes, start=1):
        scene: Scene
        height, width = scene.labels.shape
        images.append(dict(id=image_id, file_name=f'{ade_split}/{name}.png', height=height,
                           width=width))
        for obj in scene.objects:
            if base_only and obj.name in UNSEEN_CLASSES:
                continue
            annotations.append(dict(
                id=len(annotations) + 1, image_id=image_id, category_id=obj.class_id + 1,
                bbox=list(obj.bbox), area=obj.area, iscrowd=0, segmentation=mask_to_rle(obj.mask),
                caption=obj.caption, texture=obj.texture))
    return images, annotations
