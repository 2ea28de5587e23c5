"""The open-vocabulary detection splits (OV-COCO, OV-LVIS) and the annotation files they train and test on.

OV-COCO is OVR-CNN's split of COCO 2017 (Zareian et al., CVPR 2021, after Bansal et al.'s zero-shot split):
48 base categories annotated in training, 17 novel ones only in evaluation, and 15 COCO categories left out of
the protocol altogether (Bansal et al.'s split has 65 categories). OV-LVIS (ViLD's
protocol) trains on LVIS v1 without the annotations of its 337 rare categories and tests on LVIS v1 val as is.

The functions here are pure: they take a loaded json (a dict) and return the json to write, leaving the input
untouched; ``tools/dataset_converters/ov_coco.py`` and ``ov_lvis.py`` read and write the files. Every category
kept in an OV-COCO json carries ``'split': 'base'`` or ``'novel'``, as OVR-CNN's files do.
"""
import json
import os.path as osp
from typing import Dict, Iterable, Tuple

from mmdet.datasets import CocoDataset

from clipdense.utils import UserError

# COCO 2017's 80 thing categories have ids 1..90 with these ten never used.
_UNUSED_COCO_IDS = (12, 26, 29, 30, 45, 66, 68, 69, 71, 83)
COCO_CATEGORY_IDS: Tuple[int, ...] = tuple(i for i in range(1, 91) if i not in _UNUSED_COCO_IDS)
# mmdet's class names are COCO 2017's, in category-id order.
COCO_CATEGORY_NAMES: Dict[int, str] = dict(zip(COCO_CATEGORY_IDS, CocoDataset.METAINFO['classes'], strict=True))

OV_COCO_BASE_IDS: Tuple[int, ...] = (
    1, 2, 3, 4, 7, 8, 9, 15, 16, 19, 20, 23, 24, 25, 27, 31, 33, 34, 35, 38, 42, 44, 48, 50, 51, 52, 53, 54, 55, 56,
    57, 59, 60, 62, 65, 70, 72, 73, 74, 75, 78, 79, 80, 82, 84, 85, 86, 90)
OV_COCO_NOVEL_IDS: Tuple[int, ...] = (5, 6, 17, 18, 21, 22, 28, 32, 36, 41, 47, 49, 61, 63, 76, 81, 87)
# The 65 categories of the protocol, in COCO id order (the label order of OVCocoDataset).
OV_COCO_IDS: Tuple[int, ...] = tuple(sorted(OV_COCO_BASE_IDS + OV_COCO_NOVEL_IDS))
OV_COCO_EXCLUDED_IDS: Tuple[int, ...] = tuple(i for i in COCO_CATEGORY_IDS if i not in OV_COCO_IDS)

OV_COCO_CLASSES: Tuple[str, ...] = tuple(COCO_CATEGORY_NAMES[i] for i in OV_COCO_IDS)
OV_COCO_BASE_CLASSES: Tuple[str, ...] = tuple(COCO_CATEGORY_NAMES[i] for i in OV_COCO_BASE_IDS)
OV_COCO_NOVEL_CLASSES: Tuple[str, ...] = tuple(COCO_CATEGORY_NAMES[i] for i in OV_COCO_NOVEL_IDS)
OV_COCO_EXCLUDED_CLASSES: Tuple[str, ...] = tuple(COCO_CATEGORY_NAMES[i] for i in OV_COCO_EXCLUDED_IDS)

# LVIS v1 marks every category 'r' (rare: 1-10 training images), 'c' (common) or 'f' (frequent).
LVIS_FREQUENCIES = ('r', 'c', 'f')
LVIS_RARE = 'r'


class OVAnnotationError(UserError, ValueError):
    """An annotation file that is not the COCO or LVIS instances json the open-vocabulary splits are made from."""


class AnnotationFileNotFoundError(UserError, FileNotFoundError):
    """An annotation file that does not exist."""


def ov_coco_split(category_id: int) -> str:
    """``'base'``, ``'novel'`` or ``'excluded'`` for a COCO 2017 category id."""
    if category_id in OV_COCO_BASE_IDS:
        return 'base'
    if category_id in OV_COCO_NOVEL_IDS:
        return 'novel'
    if category_id in OV_COCO_EXCLUDED_IDS:
        return 'excluded'
    raise KeyError(f'{category_id} is not a COCO 2017 category id')


def ov_coco_train(coco: dict, source: str = 'the COCO json') -> dict:
    """OV-COCO's training json from COCO's ``instances_train2017.json``.

    Only annotations of the 48 base categories are kept, and only images left with at least one of them. Images
    that also show novel or excluded objects stay, those objects unannotated: a detector trained on them learns
    to call novel objects background, which is the protocol (OVR-CNN's ``instances_train2017_seen_2.json``).

    All 65 categories are listed (with their ``'split'``), not only the 48 base ones: mmdet's ``CocoDataset``
    numbers labels by the categories it is given, so listing the same 65 as the validation json gives training
    and validation one label space. OVR-CNN's json lists the 48 base categories, ovdet's the full list; their
    annotations are identical to these.

    Args:
        coco: the loaded json.
        source: what to call it in errors (the file's path).
    """
    _check_coco_categories(coco, source)
    return _keep_categories(coco, OV_COCO_BASE_IDS)


def ov_coco_val(coco: dict, source: str = 'the COCO json') -> dict:
    """OV-COCO's test json from COCO's ``instances_val2017.json``: the 65 base and novel categories (with their
    ``'split'``), their annotations, and the images with at least one of them (4,836 of COCO val2017's 5,000)."""
    _check_coco_categories(coco, source)
    return _keep_categories(coco, OV_COCO_IDS)


def ov_lvis_train(lvis: dict, source: str = 'the LVIS json') -> dict:
    """OV-LVIS's training json from ``lvis_v1_train.json``: the annotations of rare categories dropped, then the
    images left without annotations; category ids and the full category list (1,203 in LVIS v1) are kept, so
    labels stay those of ``lvis_v1_val.json``. (Detic keeps the emptied images; mmdet's ``filter_empty_gt`` drops
    them at load time anyway.)"""
    _check_instances_json(lvis, source)
    for category in lvis['categories']:
        if category.get('frequency') not in LVIS_FREQUENCIES:
            raise OVAnnotationError(
                f'{source}: category {category.get("id")} ({category.get("name")!r}) has frequency '
                f'{category.get("frequency")!r}; LVIS v1 categories have one of {LVIS_FREQUENCIES}. Give '
                'lvis_v1_train.json from the LVIS v1 release.')
    kept = [category['id'] for category in lvis['categories'] if category['frequency'] != LVIS_RARE]
    return _keep_annotations(lvis, kept, lvis['categories'])


def instance_counts(content: dict) -> Dict[str, int]:
    """How many images, annotations and categories a json holds."""
    return {key: len(content[key]) for key in ('images', 'annotations', 'categories')}


def read_instances_json(path: str) -> dict:
    """Load a COCO/LVIS-style json; a missing or unreadable file is a user error naming it."""
    if not osp.isfile(path):
        raise AnnotationFileNotFoundError(f'the annotation file {path} does not exist')
    try:
        with open(path) as f:
            content = json.load(f)
    except (OSError, UnicodeDecodeError, json.JSONDecodeError) as error:
        raise OVAnnotationError(f'cannot read {path} as json ({type(error).__name__}: {error})') from error
    _check_instances_json(content, path)
    return content


def write_instances_json(content: dict, path: str) -> None:
    """Write a json compactly (COCO's training annotations are half a gigabyte)."""
    with open(path, 'w') as f:
        json.dump(content, f, separators=(',', ':'))


def _check_instances_json(content: object, source: str) -> None:
    missing = [key for key in ('images', 'annotations', 'categories')
               if not isinstance(content, dict) or not isinstance(content.get(key), list)]
    if missing:
        raise OVAnnotationError(
            f'{source} has no {" / ".join(repr(key) for key in missing)} list; an instances json (COCO '
            'instances_*2017.json or LVIS lvis_v1_*.json) has images, annotations and categories.')


def _check_coco_categories(coco: dict, source: str) -> None:
    _check_instances_json(coco, source)
    names = {category.get('id'): category.get('name') for category in coco['categories']}
    missing = [i for i in OV_COCO_IDS if i not in names]
    if missing:
        raise OVAnnotationError(
            f'{source} lacks the COCO 2017 category ids {missing}; give COCO 2017 instances_train2017.json / '
            'instances_val2017.json (all 80 categories).')
    renamed = [(i, names[i], COCO_CATEGORY_NAMES[i]) for i in OV_COCO_IDS if names[i] != COCO_CATEGORY_NAMES[i]]
    if renamed:
        category_id, name, expected = renamed[0]
        raise OVAnnotationError(
            f'{source}: category {category_id} is {name!r}, COCO 2017 names it {expected!r} ({len(renamed)} such '
            'categories); give COCO 2017 instances_train2017.json / instances_val2017.json.')


def _keep_categories(coco: dict, annotated_ids: Iterable[int]) -> dict:
    """The 65 OV-COCO categories with their split; annotations of ``annotated_ids`` and their images."""
    categories = [dict(category, split=ov_coco_split(category['id']))
                  for category in coco['categories'] if category['id'] in OV_COCO_IDS]
    return _keep_annotations(coco, annotated_ids, categories)


def _keep_annotations(content: dict, category_ids: Iterable[int], categories: list) -> dict:
    """A copy of ``content`` with ``categories``, the annotations of ``category_ids``, the images they are on."""
    category_ids = set(category_ids)
    annotations = [ann for ann in content['annotations'] if ann['category_id'] in category_ids]
    image_ids = {ann['image_id'] for ann in annotations}
    images = [image for image in content['images'] if image['id'] in image_ids]
    return dict(content, images=images, annotations=annotations, categories=categories)
