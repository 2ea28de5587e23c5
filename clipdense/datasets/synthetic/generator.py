"""Seeded generator of synthetic scenes: coloured shapes on textured backgrounds.

Every scene is a pure function of ``(seed, split, index)``, so any image can be regenerated alone,
in any order, on any machine. Objects are drawn without anti-aliasing, so the semantic label map,
the instance masks and the boxes are exact to the pixel.
"""
import colorsys
import math
from dataclasses import dataclass, field
from typing import Iterator, List, Sequence, Tuple

import numpy as np

from .shapes import MAX_ROTATION, rasterize_shape
from .vocabulary import COLOUR_HSV, TEXTURES, class_index, class_name, classes_of_split

SPLITS = ('train', 'val')
_SPLIT_IDS = {'train': 0, 'val': 1}
BACKGROUND_TEXTURES = ('noise', 'gradient', 'checker', 'stripes', 'blotches')


@dataclass
class SceneObject:
    """One visible object of a scene.

    Attributes:
        shape, colour, texture: what was drawn.
        class_id: 0-based class id (:data:`~.vocabulary.CLASSES` index); label maps hold ``class_id + 1``.
        mask: H x W bool, the pixels where this object is visible (occlusion applied).
        bbox: COCO ``[x, y, width, height]`` of the visible pixels, in pixel edges.
    """
    shape: str
    colour: str
    texture: str
    class_id: int
    mask: np.ndarray
    bbox: List[int]

    @property
    def name(self) -> str:
        return class_name(self.shape, self.colour)

    @property
    def caption(self) -> str:
        return f'a {self.name}'

    @property
    def area(self) -> int:
        return int(self.mask.sum())


@dataclass
class Scene:
    """An image (H x W x 3 uint8 RGB), its label map (H x W uint8, 0 = background, c + 1 = class c)
    and its objects, bottom to top."""
    image: np.ndarray
    labels: np.ndarray
    objects: List[SceneObject] = field(default_factory=list)

    @property
    def caption(self) -> str:
        """``'a photo of a red triangle and a blue circle'``, objects left to right."""
        names = [o.caption for o in sorted(self.objects, key=lambda o: o.bbox[0] + o.bbox[2] / 2)]
        if not names:
            return 'a photo of an empty background'
        if len(names) == 1:
            return f'a photo of {names[0]}'
        return 'a photo of ' + ', '.join(names[:-1]) + ' and ' + names[-1]


def _hsv_to_rgb(hue_deg: float, sat: float, val: float) -> np.ndarray:
    return np.array(colorsys.hsv_to_rgb((hue_deg / 360.0) % 1.0, sat, val), dtype=np.float32)


def _bilinear_upsample(grid: np.ndarray, height: int, width: int) -> np.ndarray:
    """Bilinearly resize a small 2-D grid to height x width (corners aligned)."""
    gh, gw = grid.shape
    ys, xs = np.linspace(0, gh - 1, height), np.linspace(0, gw - 1, width)
    y0, x0 = np.minimum(ys.astype(int), gh - 2), np.minimum(xs.astype(int), gw - 2)
    fy, fx = (ys - y0)[:, None], (xs - x0)[None, :]
    top = grid[y0][:, x0] * (1 - fx) + grid[y0][:, x0 + 1] * fx
    bottom = grid[y0 + 1][:, x0] * (1 - fx) + grid[y0 + 1][:, x0 + 1] * fx
    return top * (1 - fy) + bottom * fy


class SyntheticWorld:
    """Generator of the synthetic world's scenes.

    Args:
        seed: world seed; scenes are a pure function of (seed, split, index).
        size_range: inclusive range of image heights and widths, drawn independently.
        objects_range: inclusive range of the number of objects attempted per scene (objects that
            cannot be placed without hiding too much of another are skipped).
        radius_range: range of object radii in pixels (the disk each shape fits in).
        unseen_in_train: draw the training scenes over every class, unseen ones included (the transductive
            setting, where training images hold unseen objects whose labels a method must not use).
    """

    max_overlap = 0.2  # largest fraction of a new object that may cover older objects
    min_visible = 0.6  # smallest fraction of an older object that must stay visible
    placement_attempts = 20

    def __init__(self, seed: int = 0, size_range: Tuple[int, int] = (128, 224),
                 objects_range: Tuple[int, int] = (2, 6),
                 radius_range: Tuple[float, float] = (10.0, 34.0), unseen_in_train: bool = False):
        if size_range[0] < 2 * radius_range[1]:
            raise ValueError(f'size_range {size_range} is too small for radius_range '
                             f'{radius_range}: the smallest side must hold the largest object')
        self.seed = seed
        self.size_range = size_range
        self.objects_range = objects_range
        self.radius_range = radius_range
        self.unseen_in_train = unseen_in_train

    def scene(self, split: str, index: int) -> Scene:
        """The scene ``index`` of ``split`` ('train' draws only seen classes unless ``unseen_in_train``, 'val'
        all)."""
        if split not in _SPLIT_IDS:
            raise KeyError(f'unknown split {split!r}; splits are {SPLITS}')
        rng = np.random.default_rng([self.seed, _SPLIT_IDS[split], index])
        height, width = (int(v) for v in rng.integers(self.size_range[0], self.size_range[1] + 1, 2))
        image = self._background(rng, height, width)
        owner = np.zeros((height, width), dtype=np.int16)  # 1 + index of the visible object
        allowed = classes_of_split(split, self.unseen_in_train)
        drawn: List[Tuple[str, str, str, np.ndarray]] = []  # shape, colour, texture, full mask
        for _ in range(int(rng.integers(self.objects_range[0], self.objects_range[1] + 1))):
            placed = self._place(rng, owner, drawn, allowed)
            if placed is None:
                continue
            shape, colour, texture, mask = placed
            drawn.append(placed)
            owner[mask] = len(drawn)
            image[mask] = self._paint(rng, colour, texture, mask)
        objects, labels = [], np.zeros((height, width), dtype=np.uint8)
        for i, (shape, colour, texture, _) in enumerate(drawn):
            visible = owner == i + 1
            ys, xs = np.nonzero(visible)
            bbox = [int(xs.min()), int(ys.min()), int(xs.max() - xs.min() + 1),
                    int(ys.max() - ys.min() + 1)]
            cid = class_index(shape, colour)
            labels[visible] = cid + 1
            objects.append(SceneObject(shape, colour, texture, cid, visible, bbox))
        return Scene(np.round(image * 255).astype(np.uint8), labels, objects)

    def scenes(self, split: str, num: int, start: int = 0) -> Iterator[Scene]:
        """Scenes ``start .. start + num - 1`` of ``split``."""
        for index in range(start, start + num):
            yield self.scene(split, index)

    def _place(self, rng: np.random.Generator, owner: np.ndarray,
               drawn: Sequence[Tuple[str, str, str, np.ndarray]], allowed: Sequence[str]):
        height, width = owner.shape
        for _ in range(self.placement_attempts):
            colour, shape = allowed[int(rng.integers(len(allowed)))].split(' ')
            radius = float(rng.uniform(*self.radius_range))
            # Centres keep at least 60 % of the radius inside the image.
            cx = float(rng.uniform(0.6 * radius, width - 0.6 * radius))
            cy = float(rng.uniform(0.6 * radius, height - 0.6 * radius))
            rotation = float(rng.uniform(-MAX_ROTATION[shape], MAX_ROTATION[shape]))
            texture = TEXTURES[int(rng.integers(len(TEXTURES)))]
            mask = rasterize_shape(shape, (height, width), (cx, cy), radius, rotation)
            area = int(mask.sum())
            if area < 0.5 * math.pi * radius ** 2 * 0.3:  # mostly outside the image
                continue
            if (mask & (owner > 0)).sum() > self.max_overlap * area:
                continue
            hides_too_much = any(
                ((owner == i + 1) & ~mask).sum() < self.min_visible * full.sum()
                for i, (_, _, _, full) in enumerate(drawn))
            if hides_too_much:
                continue
            return shape, colour, texture, mask
        return None

    @staticmethod
    def _background(rng: np.random.Generator, height: int, width: int) -> np.ndarray:
        """A low-saturation textured background (H x W x 3 float in [0, 1]).

        The texture only scales brightness, so saturation stays that of the base colour (<= 0.22),
        well below every object colour's.
        """
        base = _hsv_to_rgb(rng.uniform(0, 360), rng.uniform(0.0, 0.22), rng.uniform(0.35, 0.8))
        kind = BACKGROUND_TEXTURES[int(rng.integers(len(BACKGROUND_TEXTURES)))]
        ys, xs = np.mgrid[0:height, 0:width].astype(np.float32)
        if kind == 'noise':
            shade = 1.0 + rng.uniform(-0.12, 0.12, (height, width))
        elif kind == 'gradient':
            angle = rng.uniform(0, 2 * math.pi)
            ramp = (xs * math.cos(angle) + ys * math.sin(angle)) / max(height, width)
            shade = 0.8 + 0.35 * (ramp - ramp.min()) / max(float(np.ptp(ramp)), 1e-6)
        elif kind == 'checker':
            cell = int(rng.integers(8, 24))
            shade = np.where(((xs // cell) + (ys // cell)) % 2 == 0, 1.0, rng.uniform(0.75, 0.9))
        elif kind == 'stripes':
            angle, period = rng.uniform(0, math.pi), rng.uniform(6, 20)
            phase = (xs * math.cos(angle) + ys * math.sin(angle)) % period
            shade = np.where(phase < period / 2, 1.0, rng.uniform(0.75, 0.9))
        else:  # blotches: smooth random brightness
            grid = rng.uniform(0.75, 1.15, (int(rng.integers(3, 7)), int(rng.integers(3, 7))))
            shade = _bilinear_upsample(grid, height, width)
        return np.clip(base[None, None, :] * shade[..., None], 0.0, 1.0).astype(np.float32)

    @staticmethod
    def _paint(rng: np.random.Generator, colour: str, texture: str, mask: np.ndarray) -> np.ndarray:
        """Pixel colours (N x 3) of an object; textures scale brightness only, keeping hue and
        saturation."""
        hue, sat, val = COLOUR_HSV[colour]
        rgb = _hsv_to_rgb(hue + rng.uniform(-5, 5), min(sat * rng.uniform(0.9, 1.05), 1.0),
                          val * rng.uniform(0.85, 1.0))
        ys, xs = np.nonzero(mask)
        if texture == 'striped':
            angle, period = rng.uniform(0, math.pi), rng.uniform(5, 10)
            phase = (xs * math.cos(angle) + ys * math.sin(angle)) % period
            shade = np.where(phase < period / 2, 1.0, 0.72)
        elif texture == 'speckled':
            shade = 1.0 - 0.2 * rng.random(len(xs))
        else:
            shade = np.ones(len(xs))
        return rgb[None, :] * shade[:, None].astype(np.float32)


__all__ = ['SyntheticWorld', 'Scene', 'SceneObject', 'SPLITS', 'BACKGROUND_TEXTURES']
