"""The synthetic world: seeded scenes of coloured shapes with exact masks, boxes and captions,
its on-disk export (ADE20K-style segmentation, COCO-style detection) and its dataset classes."""
from .dataset import SyntheticWorldDataset
from .det_dataset import SyntheticWorldDetDataset
from .export import mask_to_rle, rle_to_mask, write_synthetic_world
from .generator import Scene, SceneObject, SyntheticWorld
from .vocabulary import (CLASSES, COLOURS, SEEN_CLASSES, SHAPES, TEXTURES, UNSEEN_CLASSES,
                         class_index, class_name, class_split)

__all__ = [
    'SyntheticWorld', 'Scene', 'SceneObject', 'write_synthetic_world', 'mask_to_rle', 'rle_to_mask',
    'SyntheticWorldDataset', 'SyntheticWorldDetDataset', 'CLASSES', 'SEEN_CLASSES',
    'UNSEEN_CLASSES', 'SHAPES', 'COLOURS', 'TEXTURES', 'class_index', 'class_name', 'class_split'
]
