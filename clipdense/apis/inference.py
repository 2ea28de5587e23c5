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

from clipdense.engine import load_config, merge_cfg_options, require_checkpoint_file
from clipdense.registry import MODELS, register_all_modules
from clipdense.utils import UserError
from clipdense.utils.precision import check_precision

ImageInput = Union[str, Path, np.ndarray]


class ImageError(UserError, ValueError):
    """An image that cannot be used: a file OpenCV cannot read, or an unsupported shape or pixel type."""


class ImageNotFoundError(ImageError, FileNotFoundError):
    """An image path that is not a file."""


class DeviceUnavailableError(UserError, RuntimeError):
    """A device that this machine does not have."""


def check_device(device: Union[str, torch.device]) -> None:
    """Fail before any work when ``device`` does not exist here (a CUDA device without a usable GPU)."""
    try:
        device = torch.device(device)
    except RuntimeError as error:
        raise DeviceUnavailableError(f'unknown device {device!r} ({error}): use cpu, cuda or cuda:N.') from error
    if device.type != 'cuda':
        return
    if not torch.cuda.is_available():
        raise DeviceUnavailableError(f'device {str(device)!r} asked for, but torch finds no CUDA GPU on this '
                                     'machine: run on the cpu (--device cpu / device=\'cpu\').')
    if device.index is not None and device.index >= torch.cuda.device_count():
        raise DeviceUnavailableError(f'device {str(device)!r} asked for, but this machine has '
                                     f'{torch.cuda.device_count()} CUDA GPU(s): use cuda:0 to '
                                     f'cuda:{torch.cuda.device_count() - 1}.')


def init_model(config: Union[str, Path, Config], checkpoint: Optional[str] = None, device: str = 'cpu',
               cfg_options: Optional[dict] = None, precision: Optional[str] = None,
               compile: bool = False) -> nn.Module:
    """A model from a config file (or ``Config``), optionally with trained weights, in eval mode.

    ``cfg_options`` overrides config entries, e.g. ``{'model.clip.pretrained': '/path/ViT-B-16.pt'}``; keys are
    checked as for ``--cfg-options`` (``clipdense.engine.merge_cfg_options``). ``precision`` (``'fp32'``,
    ``'bf16'``, ``'fp16'``) sets ``model.precision``, the format of inference (the config's, fp32 unless it says
    otherwise, when not given); ``compile`` runs ``torch.compile`` on the vision tower (``compile_towers``; the
    first inference compiles). A missing config, checkpoint or device fails before the model is built.
    """
    check_device(device)
    if precision is not None:
        check_precision(precision)
    register_all_modules()
    cfg = load_config(config) if isinstance(config, (str, Path)) else config.copy()
    merge_cfg_options(cfg, cfg_options)
    if precision is not None:
        cfg.model.precision = precision
    require_checkpoint_file(checkpoint)
    model = MODELS.build(cfg.model)
    if checkpoint is not None:
        meta = load_checkpoint(model, checkpoint, map_location='cpu').get('meta', {})
        if 'dataset_meta' in meta and not getattr(model, 'dataset_meta', None):
            model.dataset_meta = meta['dataset_meta']
        if hasattr(model, 'check_text_tower_meta'):
            model.check_text_tower_meta(meta, source=str(checkpoint))
    model.cfg = cfg
    model = model.to(device).eval()
    if compile:
        model.compile_towers()
    return model


def read_image(image: ImageInput) -> np.ndarray:
    """A 3-channel BGR uint8 image (as mmcv loads them) from a path or an array.

    Arrays are taken as BGR (OpenCV's order); grayscale images are expanded to three channels and the alpha
    channel of RGBA/BGRA images is dropped.
    """
    source = 'the image array'
    if isinstance(image, (str, Path)):
        path = source = str(image)
        if not os.path.isfile(path):
            raise ImageNotFoundError(f'image not found: {path}: give the path of an existing image file.')
        array = cv2.imread(path, cv2.IMREAD_UNCHANGED)
        if array is None:
            raise ImageError(f'cannot read image {path}: not an image file, or a format OpenCV cannot decode: '
                             'give a PNG, JPEG or another format OpenCV reads.')
    elif isinstance(image, np.ndarray):
        array = image
    else:
        raise TypeError(f'expected an image path or a numpy array, got {type(image).__name__}')
    if array.ndim == 2:
        array = array[:, :, None]
    if array.ndim != 3 or array.shape[2] not in (1, 3, 4):
        raise ImageError(f'{source} has shape {array.shape}: give an H×W, H×W×3 or H×W×4 image.')
    if array.dtype != np.uint8:
        if array.dtype == np.uint16:
            array = (array >> 8).astype(np.uint8)
        else:
            raise ImageError(f'{source} has {array.dtype} pixels: give an 8-bit (or 16-bit) image.')
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
