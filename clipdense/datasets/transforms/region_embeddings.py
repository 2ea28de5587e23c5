"""CLIP embeddings of precomputed regions for distillation (ViLD-image), read per image."""
import os.path as osp

import numpy as np
from mmcv.transforms import BaseTransform

from clipdense.registry import TRANSFORMS
from clipdense.utils import UserError


class RegionEmbeddingsNotFoundError(UserError, FileNotFoundError):
    """An image has no region-embedding file."""


def region_embeddings_path(embeddings_dir: str, img_id) -> str:
    """Where ``tools/vild_region_embeddings.py`` writes (and this transform reads) an image's regions."""
    return osp.join(embeddings_dir, f'{img_id}.npz')


@TRANSFORMS.register_module()
class LoadRegionEmbeddings(BaseTransform):
    """Add ``region_boxes`` (N, 4: x1, y1, x2, y2 in original-image pixels) and ``region_embeddings`` (N, D) from
    ``{embeddings_dir}/{img_id}.npz`` (written by ``tools/vild_region_embeddings.py``), at most ``max_regions``
    (ViLD: 300) in the file's order (best proposals first).

    Put it before the geometric transforms and pack ``homography_matrix``, ``region_boxes`` and
    ``region_embeddings`` in ``PackDetInputs``' ``meta_keys``: the boxes stay in original-image coordinates and
    the RoI head maps them through the augmentation's homography (mmdet's transforms record it), so any resize,
    flip or crop applies to them as to the image.
    """

    def __init__(self, embeddings_dir: str, max_regions: int = 300):
        self.embeddings_dir = embeddings_dir
        self.max_regions = max_regions

    def transform(self, results: dict) -> dict:
        path = region_embeddings_path(self.embeddings_dir, results['img_id'])
        if not osp.isfile(path):
            raise RegionEmbeddingsNotFoundError(
                f'no region embeddings for image {results.get("img_path", results["img_id"])}: {path} does not '
                'exist. Write them with tools/vild_region_embeddings.py (it resumes where it stopped), or point '
                'LoadRegionEmbeddings.embeddings_dir at its output folder.')
        with np.load(path) as regions:
            results['region_boxes'] = regions['boxes'][:self.max_regions].astype(np.float32)
            results['region_embeddings'] = regions['embeddings'][:self.max_regions].astype(np.float32)
        results.setdefault('homography_matrix', np.eye(3, dtype=np.float32))
        return results

    def __repr__(self) -> str:
        return f'{type(self).__name__}(embeddings_dir={self.embeddings_dir!r}, max_regions={self.max_regions})'
