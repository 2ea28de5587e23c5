"""Build a model from a config and run it on images."""
import os
from pathlib import Path
from typing import List, Optional, Sequence, Union

import cv2
import numpy as np
import torch
from mmengine.config import Config
from mmengine.dataset import Compose, pseudo_collate
from mmengine.runner import load_checkpoint
from torch import nn

from clipdense.registry import MODELS, register_all_modules

ImageInput = Union[str, Path, np.ndarray]


def init_model(config: Union[str, Path, Config], checkpoint: Optional[str] = None, device: str = 'cpu',
               cfg_options: Optional[dict] = None) -> nn.Module:
    """A model from a config file (or ``Config``), optionally with trained weights, in eval mode.

    ``cfg_options`` overrides config entries, e.g. ``{'model.clip.pretrained': '/path/ViT-B-16.pt'}``.
    """
    register_all_modules()
    cfg = Config.fromfile(str(config)) if isinstance(config, (str, Path)) else config.copy()
    if cfg_options:
        cfg.merge_from_dict(cfg_options)
    model = MODELS.build(cfg.model)
    if checkpoint is not None:
        meta = load_checkpoint(model, checkpoint, map_location='cpu').get('meta', {})
        if 'dataset_meta' in meta and not getattr(model, 'dataset_meta', None):
            model.dataset_meta = meta['dataset_meta']
    model.cfg = cfg
    return model.to(device).eval()


def read_image(image: ImageInput) -> np.ndarray:
    """A 3-channel BGR uint8 image (as mmcv loads them) from a path or an array.

    Arrays are taken as BGR (OpenCV's order); grayscale images are expanded to three channels and the alpha
    channel of RGBA/BGRA images is dropped.
    """
    if isinstance(image, (str, Path)):
        path = str(image)
        if not os.path.isfile(path):
            raise FileNotFoundError(f'image not found: {path}')
        array = cv2.imread(path, cv2.IMREAD_UNCHANGED)
        if array is None:
            raise ValueError(f'cannot read image {path}: not an image file, or a format OpenCV cannot decode.')
    elif isinstance(image, np.ndarray):
        array = image
    else:
        raise TypeError(f'expected an image path or a numpy array, got {type(image).__name__}')
    if array.ndim == 2:
        array = array[:, :, None]
    if array.ndim != 3 or array.shape[2] not in (1, 3, 4):
        raise ValueError(f'expected an H×W, H×W×3 or H×W×4 image, got shape {array.shape}')
    if array.dtype != np.uint8:
        if array.dtype == np.uint16:
            array = (array >> 8).astype(np.uint8)
        else:
            raise ValueError(f'expected a uint8 (or uint16) image, got {array.dtype}')
    if array.shape[2] == 1:
        array = np.repeat(array, 3, axis=2)
    return np.ascontiguousarray(array[:, :, :3])


def _test_pipeline(cfg: Config) -> Compose:
    steps = [dict(step) for step in cfg.test_pipeline if 'LoadAnnotations' not in step['type']]
    if steps and 'LoadImage' in steps[0]['type']:
        steps[0] = dict(type='LoadImageFromNDArray')
    else:
        steps.insert(0, dict(type='LoadImageFromNDArray'))
    return Compose(steps)


@torch.no_grad()
def inference_model(model: nn.Module, images: Union[ImageInput, Sequence[ImageInput]],
                    vocabulary=None) -> Union[object, List[object]]:
    """Predictions (mmseg ``SegDataSample`` / mmdet ``DetDataSample``) for one image or a list of images.

    Args:
        model: from ``init_model``.
        images: paths or BGR arrays.
        vocabulary: class names to use from now on instead of the config's (a list, a class-name file, or
            ``"person;man,dog,sofa"``: commas separate classes, semicolons synonyms).
    """
    if vocabulary is not None:
        model.set_vocabulary(vocabulary)
    single = not isinstance(images, (list, tuple))
    pipeline = _test_pipeline(model.cfg)
    batch = []
    for image in ([images] if single else images):
        array = read_image(image)
        name = str(image) if isinstance(image, (str, Path)) else None
        batch.append(pipeline(dict(img=array, img_path=name, ori_shape=array.shape[:2])))
    results = model.test_step(pseudo_collate(batch))
    return results[0] if single else results
