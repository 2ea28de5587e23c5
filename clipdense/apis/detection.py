"""Run an open-vocabulary detector (an mmdet detector such as ``ViLD``) on images.

The model comes from ``init_model``, like the segmentation models; its vocabulary is set with
``init_model(..., cfg_options={'model.vocabulary': ...})`` or ``model.set_vocabulary(...)``.
"""
from pathlib import Path
from typing import List, Sequence, Union

import torch
from mmdet.models.detectors import BaseDetector
from mmdet.structures import DetDataSample
from mmengine.config import Config
from mmengine.dataset import Compose, pseudo_collate
from torch import nn

from clipdense.engine import ConfigError
from clipdense.utils import UserError

from .inference import ImageInput, read_image

# Steps of a test pipeline that read what an image at inference does not have: its annotations, and ViLD's
# precomputed CLIP region embeddings (``LoadRegionEmbeddings``, a distillation target).
_ANNOTATION_STEPS = ('LoadRegionEmbeddings', )


class NotADetectorError(UserError, TypeError):
    """A model that is not a detector (a segmentation model) where boxes are wanted."""


def _step_name(step: dict) -> str:
    """A pipeline step's type without its registry scope: ``'mmdet.LoadAnnotations'`` → ``'LoadAnnotations'``."""
    name = step['type'] if isinstance(step['type'], str) else step['type'].__name__
    return name.rsplit('.', 1)[-1]


def _reads_annotations(step: dict) -> bool:
    # LoadAnnotations, LoadPanopticAnnotations, FilterAnnotations ...: all need ground truth.
    name = _step_name(step)
    return name.endswith('Annotations') or name in _ANNOTATION_STEPS


def _configured_test_pipeline(cfg: Config) -> list:
    """The test dataset's pipeline (looked up through dataset wrappers), else the config's ``test_pipeline``."""
    dataset = cfg.get('test_dataloader', {}).get('dataset', {})
    while dataset and 'pipeline' not in dataset:  # ClassBalancedDataset, ConcatDataset ... wrap the real one
        dataset = dataset.get('dataset') or (dataset.get('datasets') or [{}])[0]
    pipeline = dataset.get('pipeline') if dataset else None
    pipeline = pipeline or cfg.get('test_pipeline')
    if not pipeline:
        raise ConfigError(f'the config {cfg.filename} has no test pipeline: set test_dataloader.dataset.pipeline '
                          '(load, resize, mmdet.PackDetInputs), as configs/_base_/datasets/*_detection.py do.')
    return [dict(step) for step in pipeline]


def detection_test_pipeline(cfg: Config) -> Compose:
    """The config's test pipeline for images given as arrays: the image-loading step replaced by loading from
    ``results['img']`` and the annotation-loading steps dropped."""
    steps = [step for step in _configured_test_pipeline(cfg) if not _reads_annotations(step)]
    load = dict(type='mmdet.LoadImageFromNDArray')
    first = _step_name(steps[0]) if steps else ''
    if first.startswith('Load') and 'Image' in first:
        if steps[0].get('to_float32'):
            load['to_float32'] = True
        steps[0] = load
    else:
        steps.insert(0, load)
    return Compose(steps)


def check_detector(model: nn.Module) -> None:
    """Fail with a clear message when ``model`` is not an mmdet detector built by ``init_model``."""
    if not isinstance(model, BaseDetector):
        raise NotADetectorError(f'the model is a {type(model).__name__}, not a detector: give a detection config '
                                '(such as configs/vild/*.py), or use inference_model / demo/image_demo.py for '
                                'segmentation.')
    if getattr(model, 'cfg', None) is None:
        raise TypeError('the detector has no config (model.cfg): build it with clipdense.apis.init_model')


@torch.no_grad()
def inference_detector(model: nn.Module, images: Union[ImageInput, Sequence[ImageInput]],
                       vocabulary=None) -> Union[DetDataSample, List[DetDataSample]]:
    """Detections (mmdet ``DetDataSample``) for one image or a list of images.

    ``pred_instances`` holds ``bboxes`` (N, 4) as x1, y1, x2, y2 in pixels of the original image, ``labels`` (N,)
    indexing ``model.dataset_meta['classes']``, ``scores`` (N,) and, for models with a mask head, ``masks``
    (N, H, W) bool at the original size.

    Args:
        model: a detector from ``init_model``.
        images: paths or BGR arrays (as ``read_image`` accepts).
        vocabulary: class names to detect from now on instead of the model's (a list, a class-name file, or
            ``"cat,dog;puppy"``: commas separate classes, semicolons synonyms); same as ``model.set_vocabulary``.
    """
    check_detector(model)
    if vocabulary is not None:
        model.set_vocabulary(vocabulary)
    single = not isinstance(images, (list, tuple))
    pipeline = detection_test_pipeline(model.cfg)
    results = []
    # One image per forward pass, as mmdet's inference does: a batch pads its images to a common size, which
    # would make an image's detections depend on the other images of the list.
    for image in ([images] if single else images):
        result = model.test_step(pseudo_collate([pipeline(dict(img=read_image(image)))]))[0]
        if isinstance(image, (str, Path)):  # loading from an array leaves img_path None
            result.set_metainfo(dict(img_path=str(image)))
        results.append(result)
    return results[0] if single else results
