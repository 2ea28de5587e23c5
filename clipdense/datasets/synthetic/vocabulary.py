"""The synthetic world's vocabulary: shapes, colours, textures and the seen/unseen class split.

A semantic class is a (colour, shape) pair, named ``'<colour> <shape>'`` (``'red triangle'``):
8 shapes x 8 colours = 64 classes. Every shape and every colour is seen in training, but 16 of
the pairs never are: those *unseen* classes are held out of the training images and captions, so
recognising them needs the compositional, open-vocabulary generalisation the benchmark measures
(the pair is new, its words are not). Each shape is held out with 2 colours and each colour with
2 shapes, so no word is favoured by the split.

Class ids: ``SHAPES.index(shape) * len(COLOURS) + COLOURS.index(colour)``, 0-based as in mmseg's
metainfo; on disk the label maps add 1 (0 = background), the ADE20K convention that
``reduce_zero_label=True`` undoes.
"""
from typing import Dict, List, Tuple

SHAPES: Tuple[str, ...] = ('circle', 'square', 'triangle', 'star', 'ring', 'cross', 'diamond',
                           'crescent')

# name -> (hue in degrees, saturation, value) of the colour's centre; objects jitter around it.
# Saturations are >= 0.45 and backgrounds are kept <= 0.25, so colour alone separates objects from
# background (tests rely on that to check masks against pixels).
COLOUR_HSV: Dict[str, Tuple[float, float, float]] = {
    'red': (0.0, 0.90, 0.90),
    'orange': (28.0, 0.95, 0.95),
    'yellow': (56.0, 0.90, 0.95),
    'green': (120.0, 0.85, 0.75),
    'cyan': (185.0, 0.85, 0.90),
    'blue': (228.0, 0.90, 0.90),
    'purple': (278.0, 0.75, 0.75),
    'pink': (325.0, 0.50, 1.00),
}
COLOURS: Tuple[str, ...] = tuple(COLOUR_HSV)

# Object surface textures: nuisance factors, not part of the class.
TEXTURES: Tuple[str, ...] = ('solid', 'striped', 'speckled')

# Colour offsets (mod 8) held out for every shape: shape i loses colours i and i + 3.
_UNSEEN_COLOUR_OFFSETS = (0, 3)


def class_name(shape: str, colour: str) -> str:
    """The class name of a coloured shape, e.g. ``class_name('triangle', 'red') == 'red triangle'``."""
    return f'{colour} {shape}'


def class_index(shape: str, colour: str) -> int:
    """0-based class id of a (shape, colour) pair."""
    return SHAPES.index(shape) * len(COLOURS) + COLOURS.index(colour)


CLASSES: Tuple[str, ...] = tuple(class_name(s, c) for s in SHAPES for c in COLOURS)

UNSEEN_CLASSES: Tuple[str, ...] = tuple(
    class_name(shape, COLOURS[(i + offset) % len(COLOURS)])
    for i, shape in enumerate(SHAPES) for offset in _UNSEEN_COLOUR_OFFSETS)

SEEN_CLASSES: Tuple[str, ...] = tuple(c for c in CLASSES if c not in UNSEEN_CLASSES)


def class_split(name: str) -> str:
    """``'base'`` for a class seen in training, ``'novel'`` for a held-out one (COCO OV naming)."""
    if name not in CLASSES:
        raise KeyError(f'{name!r} is not a synthetic-world class; classes are "<colour> <shape>" '
                       f'with colour in {COLOURS} and shape in {SHAPES}')
    return 'novel' if name in UNSEEN_CLASSES else 'base'


def classes_of_split(split: str, unseen_in_train: bool = False) -> List[str]:
    """Classes whose objects may appear in a data split: ``train`` sees only the seen classes, unless
    ``unseen_in_train`` (the transductive setting: unseen objects in training images, their labels not to be used)."""
    return list(SEEN_CLASSES) if split == 'train' and not unseen_in_train else list(CLASSES)
