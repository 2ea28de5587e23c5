"""What the checkpoint converters in tools/model_converters share: reading a released checkpoint, renaming its keys by
rules (every key must match one: nothing is dropped silently or renamed twice), and writing a clipdense checkpoint
whose meta records the source and the text tower it was trained against."""
import os
import re
from typing import Dict, Iterable, Optional, Sequence, Tuple

import torch

from clipdense.models.clip import text_state_fingerprint
from clipdense.models.clip.loading import unwrap_state_dict
from clipdense.utils import UserError

from .checkpoint import load_local_checkpoint

# A rule: (regular expression on a source key, replacement template or None to drop the key).
Rule = Tuple[str, Optional[str]]


class ConversionError(UserError, ValueError):
    """The file is not a checkpoint of the kind the converter reads."""


def read_released_checkpoint(path: str, unsafe: bool = False) -> Dict[str, torch.Tensor]:
    """The state dict of a released checkpoint (``{'state_dict': ...}``, ``{'model': ...}`` or flat).

    Read with ``weights_only=True`` and the numpy/mmengine types training frameworks write; ``unsafe`` allows any
    pickled object (only for files from a source you trust)."""
    if not os.path.isfile(path):
        raise ConversionError(f'checkpoint not found: {path}')
    try:
        if unsafe:
            checkpoint = torch.load(path, map_location='cpu', weights_only=False)
        else:
            checkpoint = load_local_checkpoint(path, map_location='cpu')
    except Exception as error:  # noqa: BLE001 - every reading failure gets the file named and the way out
        raise ConversionError(
            f'cannot read {path} as a checkpoint ({type(error).__name__}: {str(error).splitlines()[0]}). If it is a '
            'released checkpoint you trust that pickles other objects, pass --unsafe-load.') from error
    state_dict = unwrap_state_dict(checkpoint)
    if state_dict is None or not all(isinstance(value, torch.Tensor) for value in state_dict.values()):
        raise ConversionError(f'{path} holds no state dict of tensors.')
    return state_dict


def rename_keys(state_dict: Dict[str, torch.Tensor], rules: Sequence[Rule],
                source: str) -> Dict[str, torch.Tensor]:
    """Apply the first matching rule to every key; a key no rule matches, or two keys renamed to the same name,
    is an error naming the key (the file is not the format the rules describe)."""
    converted = {}
    for key, value in state_dict.items():
        for pattern, replacement in rules:
            if re.fullmatch(pattern, key):
                if replacement is not None:
                    new_key = re.sub(pattern, replacement, key)
                    if new_key in converted:
                        raise ConversionError(f'{source}: keys renamed twice to {new_key!r}')
                    converted[new_key] = value
                break
        else:
            raise ConversionError(f'{source}: unexpected key {key!r}; is it a checkpoint of this method?')
    return converted


def text_tower_meta(state_dict: Dict[str, torch.Tensor], prefix: str, clip_name: str) -> Optional[dict]:
    """The ``text_tower`` meta of a released checkpoint that carries its CLIP text encoder under ``prefix`` (with
    open_clip's names after it), or None when it carries none."""
    text = {key[len(prefix):]: value for key, value in state_dict.items() if key.startswith(prefix)}
    return dict(clip_name=clip_name, fingerprint=text_state_fingerprint(text)) if text else None


def save_converted(state_dict: Dict[str, torch.Tensor], destination: str, source: str,
                   text_tower: Optional[dict] = None, extra_meta: Optional[dict] = None) -> None:
    """Write ``{'state_dict': ..., 'meta': ...}`` as mmengine checkpoints are, creating the folder."""
    meta = dict(converted_from=os.path.abspath(source), **(extra_meta or {}))
    if text_tower is not None:
        meta['text_tower'] = text_tower
    folder = os.path.dirname(os.path.abspath(destination))
    try:
        os.makedirs(folder, exist_ok=True)
        torch.save(dict(state_dict=state_dict, meta=meta), destination)
    except OSError as error:
        raise ConversionError(f'cannot write {destination}: {error.strerror}. Choose a writable path.') from error


def add_batch_norm_counters(state_dict: Dict[str, torch.Tensor]) -> None:
    """A zero ``num_batches_tracked`` beside every ``running_mean`` that has none: torch's batch norms expect the
    counter, the released formats (detectron2's FrozenBN, TensorFlow) keep none."""
    for key in [key for key in state_dict if key.endswith('.running_mean')]:
        state_dict.setdefault(key[:-len('running_mean')] + 'num_batches_tracked', torch.tensor(0))


def require_key_prefixes(state_dict: Dict[str, torch.Tensor], required: Iterable[str], source: str) -> None:
    """An error naming the required key prefixes the file lacks."""
    missing = [prefix for prefix in required if not any(key.startswith(prefix) for key in state_dict)]
    if missing:
        raise ConversionError(f'{source} has no {", ".join(missing)} keys; is it a checkpoint of this method?')
