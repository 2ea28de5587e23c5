"""What the demos share: checking the output image before the model runs and writing it after, and turning their
CLIP and vocabulary options into config overrides (the vocabulary checked before the CLIP loads)."""
import os
from typing import Optional

import cv2
import numpy as np

from clipdense.engine import OutputPathError, check_writable_folder
from clipdense.models.clip.vocabulary import Vocabulary, VocabularyError


def check_output_image(path: str, what: str = 'image') -> None:
    """``what`` can be written to ``path``: checked before the model runs, so a mistake loses nothing."""
    if not cv2.haveImageWriter(path):
        raise OutputPathError(f'cannot write the {what} to {path} (--out): OpenCV has no writer for this file '
                              'name; use a .png or .jpg file name.')
    check_writable_folder(os.path.dirname(os.path.abspath(path)), '--out')


def write_output_image(path: str, image: np.ndarray, what: str = 'image') -> None:
    """Write ``image`` (BGR) to ``path``; an ``OutputPathError`` naming ``--out`` when OpenCV cannot (a full disk,
    a folder that changed since ``check_output_image``)."""
    if not cv2.imwrite(path, image):
        raise OutputPathError(f'could not write the {what} to {path} (--out): check the free space and the '
                              'permissions of its folder.')


def demo_cfg_options(cfg_options: Optional[dict], vocab: Optional[str] = None, pretrained: Optional[str] = None,
                     model: Optional[str] = None) -> dict:
    """``--cfg-options`` with ``--model`` (``model.clip.name``), ``--pretrained`` (``model.clip.pretrained``;
    ``none`` for random weights) and ``--vocab`` (``model.vocabulary``) merged in."""
    options = dict(cfg_options or {})
    if model:
        options['model.clip.name'] = None if model.lower() == 'none' else model
    if pretrained:
        options['model.clip.pretrained'] = None if pretrained.lower() == 'none' else pretrained
    if vocab is not None:  # an empty --vocab is a mistake, not a request for the config's vocabulary
        try:
            Vocabulary.parse(vocab)  # checked now rather than after the CLIP has loaded
        except VocabularyError as error:
            raise type(error)(f'--vocab {vocab!r}: {error}') from error
        options['model.vocabulary'] = vocab
    return options
