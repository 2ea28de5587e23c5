"""Build a CLIP model through open_clip from an architecture name and a weights source.

Every clipdense config names its CLIP at ``model.clip.name`` / ``model.clip.pretrained``:

* ``name``: an open_clip model name (``ViT-B-16``, ``RN50``, ``convnext_base_w`` ...), clipdense's own
  ``clipdense-tiny`` (ViT), ``clipdense-tiny-convnext`` and ``clipdense-tiny-resnet``, or ``None`` to read an
  OpenAI-format architecture off the weights file.
* ``pretrained``:

  - an open_clip tag (``openai``, ``laion2b_s34b_b88k`` ...), downloaded by open_clip;
  - ``embedded``: the tiny CLIPs shipped in ``clipdense/assets`` (``clipdense-tiny``, ``-convnext``, ``-resnet``);
  - a local file: an OpenAI release (TorchScript archive such as ``ViT-B-16.pt``), an OpenAI-format state dict,
    or an open_clip checkpoint (``.pt``/``.bin``/``.safetensors``);
  - ``None``: random weights (a warning is logged; only useful for tests and benchmarks).

OpenAI releases are always built with QuickGELU, as OpenAI trained them and as the reference repositories load
them: files from their own tensors, open_clip tags (``openai`` and every other tag trained with QuickGELU) with
open_clip's ``force_quick_gelu``. A state dict given with an architecture name is built as open_clip builds that
name (``ViT-B-16``: GELU); its log line says so when the file has OpenAI's layout, which open_clip's own ViT and
ResNet checkpoints share: name ``None`` (or ``ViT-B-16-quickgelu``) for OpenAI weights saved as a state dict.
Models are returned in fp32 and eval mode.
"""
import contextlib
import difflib
import logging
import os
import zipfile
from pathlib import Path
from typing import Dict, Optional

import open_clip
import torch
from mmengine.logging import print_log
from torch import nn

from clipdense.utils import UserError, describe_read_error
from .text import uses_quick_gelu

ASSETS = Path(__file__).resolve().parents[2] / 'assets'
EMBEDDED_CONFIGS = ASSETS / 'clip_configs'
EMBEDDED_WEIGHTS = {name: ASSETS / 'embedded_clip' / f'{name}.pt'
                    for name in ('clipdense-tiny', 'clipdense-tiny-convnext', 'clipdense-tiny-resnet')}
_WEIGHT_SUFFIXES = ('.pt', '.pth', '.bin', '.safetensors', '.ckpt')


class CLIPLoadError(UserError, RuntimeError):
    """The CLIP architecture or weights asked for cannot be provided."""


def _register_embedded_configs() -> None:
    if EMBEDDED_CONFIGS.is_dir() and not set(EMBEDDED_WEIGHTS) <= set(open_clip.list_models()):
        open_clip.add_model_config(EMBEDDED_CONFIGS)


def _check_model_name(name: str) -> None:
    known = open_clip.list_models()
    if name not in known:
        close = difflib.get_close_matches(name, known, n=5)
        hint = f' Close matches: {", ".join(close)}.' if close else ''
        raise CLIPLoadError(
            f'unknown CLIP architecture model.clip.name={name!r}.{hint} '
            'Any name from open_clip.list_models() works; use name=None with an OpenAI-format weights '
            'file to read the architecture from the file.')


@contextlib.contextmanager
def _open_clip_quiet():
    """Drop open_clip's log records while it runs.

    ``open_clip.create_model`` without a tag warns "No pretrained weights loaded ... initialized randomly",
    which is wrong when clipdense loads the weights right after (or logs its own random-weights warning). open_clip
    logs through the root logger with ``logging.warning``, which also calls ``logging.basicConfig()`` when the root
    logger has no handler; a temporary NullHandler keeps that call from configuring the process's logging.
    """
    root = logging.getLogger()
    package_dir = os.path.dirname(open_clip.__file__)

    def not_open_clip(record: logging.LogRecord) -> bool:
        return not record.pathname.startswith(package_dir)

    placeholder = logging.NullHandler()
    root.addFilter(not_open_clip)
    root.addHandler(placeholder)
    try:
        yield
    finally:
        root.removeHandler(placeholder)
        root.removeFilter(not_open_clip)


def _create_unloaded_model(name: str) -> nn.Module:
    """The open_clip architecture ``name`` with random weights, without open_clip's warning about them."""
    with _open_clip_quiet():
        return open_clip.create_model(name)


def _looks_like_path(pretrained: str) -> bool:
    return os.sep in pretrained or pretrained.endswith(_WEIGHT_SUFFIXES) or os.path.exists(pretrained)


def _is_torchscript_archive(path: str) -> bool:
    if not zipfile.is_zipfile(path):
        return False
    with zipfile.ZipFile(path) as archive:
        return any(member.split('/')[1:2] == ['code'] for member in archive.namelist())


def is_openai_state_dict(state_dict: Dict[str, torch.Tensor]) -> bool:
    """True for the flat key layout of OpenAI's CLIP (which open_clip's ``CLIP`` class shares)."""
    has_vision = 'visual.proj' in state_dict or 'visual.attnpool.c_proj.weight' in state_dict
    return has_vision and 'token_embedding.weight' in state_dict and 'text_projection' in state_dict


def unwrap_state_dict(checkpoint) -> Optional[Dict[str, torch.Tensor]]:
    """The state dict inside a loaded checkpoint (``{'state_dict': ...}``, ``{'model': ...}`` or flat), without a
    ``module.`` prefix that every key carries (DDP); None when there is no non-empty dict."""
    for wrapper in ('state_dict', 'model'):
        if isinstance(checkpoint, dict) and isinstance(checkpoint.get(wrapper), dict):
            checkpoint = checkpoint[wrapper]
    if not isinstance(checkpoint, dict) or not checkpoint:
        return None
    if all(key.startswith('module.') for key in checkpoint):
        return {key[len('module.'):]: value for key, value in checkpoint.items()}
    return checkpoint


def read_state_dict(path: str) -> Dict[str, torch.Tensor]:
    """Tensors of a CLIP weights file: TorchScript archive, torch pickle (``weights_only``) or safetensors."""
    try:
        if _is_torchscript_archive(path):
            state_dict = torch.jit.load(path, map_location='cpu').state_dict()
        elif path.endswith('.safetensors'):
            from safetensors.torch import load_file
            state_dict = load_file(path, device='cpu')
        else:
            # Mapped, not read, where the format allows: for a named architecture only the keys are looked at
            # here, and open_clip's loader reads the file itself.
            state_dict = torch.load(path, map_location='cpu', weights_only=True, mmap=zipfile.is_zipfile(path))
    except Exception as error:  # noqa: BLE001 - whatever the reader's complaint, the file is the problem
        raise CLIPLoadError(
            f'cannot read CLIP weights file {path} ({describe_read_error(error)}): it is not a complete torch, '
            'TorchScript or safetensors file. Download it again, or give another file.') from error
    state_dict = unwrap_state_dict(state_dict)
    if state_dict is None:
        raise CLIPLoadError(f'{path} holds no state dict of tensors.')
    # Metadata of OpenAI's archives, and the causal mask TorchScript stores; neither is a weight.
    for key in ('input_resolution', 'context_length', 'vocab_size', 'attn_mask'):
        state_dict.pop(key, None)
    return state_dict


def build_openai_clip(state_dict: Dict[str, torch.Tensor]) -> nn.Module:
    """An OpenAI-format CLIP of any width/depth, architecture read off the tensors, in fp32.

    open_clip's builder converts the model to fp16; loading the tensors again after ``float()`` keeps
    fp32 state dicts exact (OpenAI's own fp16 tensors come out as the references' ``model.float()``).
    """
    model = open_clip.model.build_model_from_openai_state_dict(dict(state_dict), quick_gelu=True)
    model = model.float()
    model.load_state_dict({k: v.float() if v.is_floating_point() else v for k, v in state_dict.items()})
    return model


def _describe(model: nn.Module) -> str:
    visual = model.visual
    if hasattr(visual, 'conv1') and hasattr(visual, 'transformer'):
        return (f'ViT width {visual.transformer.width}, {visual.transformer.layers} layers, '
                f'patch {visual.patch_size[0]}')
    if hasattr(visual, 'attnpool'):
        return f'ModifiedResNet layers {[len(getattr(visual, f"layer{i}")) for i in range(1, 5)]}'
    return type(visual).__name__


def _load_file(name: Optional[str], path: str) -> nn.Module:
    if not os.path.isfile(path):
        raise CLIPLoadError(
            f'CLIP weights file not found: model.clip.pretrained={path!r}. Give the path of an OpenAI '
            'release (e.g. ViT-B-16.pt), an OpenAI-format state dict or an open_clip checkpoint.')
    state_dict = read_state_dict(path)
    openai_release = _is_torchscript_archive(path)
    if name is None or openai_release:
        if not is_openai_state_dict(state_dict):
            raise CLIPLoadError(
                f'cannot read a CLIP architecture from {path}: it is not an OpenAI-format CLIP state dict '
                f'(first keys: {list(state_dict)[:4]}). Name its open_clip architecture with model.clip.name.')
        model = build_openai_clip(state_dict)
        print_log(f'CLIP: OpenAI-format weights {path}, architecture read from the tensors '
                  f'({_describe(model)}, QuickGELU)', logger='current')
        return model
    _check_model_name(name)
    model = _create_unloaded_model(name)
    try:
        open_clip.load_checkpoint(model, path, strict=True)
    except (RuntimeError, AssertionError, ValueError) as error:  # open_clip reports shape mismatches all three ways
        # torch lists every missing key: the first lines, cut short, are enough to see what does not match.
        first_lines = '\n'.join(line if len(line) < 300 else f'{line[:300]}...'
                                for line in str(error).splitlines()[:6])
        raise CLIPLoadError(
            f'weights file {path} does not fit open_clip architecture {name!r}:\n{first_lines}\n'
            'Set model.clip.name to the architecture the file was trained with, or model.clip.name=None '
            'if it is an OpenAI-format state dict (the architecture is then read from the tensors).') from error
    message = f'CLIP: {name} with weights from {path}'
    if is_openai_state_dict(state_dict) and not uses_quick_gelu(model):
        # open_clip's own checkpoints share OpenAI's key layout, so the tensors cannot tell whose they are.
        message += (f' (GELU, as open_clip builds {name!r}; OpenAI\'s weights need QuickGELU: for them set '
                    'model.clip.name=None, or the -quickgelu variant of the name)')
    print_log(message, logger='current')
    return model


def _load_tag(name: str, tag: str) -> nn.Module:
    _check_model_name(name)
    tags = open_clip.list_pretrained_tags_by_model(name)
    if tag not in tags:
        raise CLIPLoadError(
            f'unknown pretrained tag {tag!r} for CLIP {name!r}. open_clip knows: {tags or "none"}. '
            'For weights of your own give a file: model.clip.pretrained=/path/to/weights.pt')
    # open_clip builds a tag's weights into the architecture as named and only warns when the tag was trained with
    # QuickGELU (OpenAI's, MetaCLIP's ...) and the config has GELU: ask for the activation the weights were trained
    # with.
    quick_gelu = bool(open_clip.get_pretrained_cfg(name, tag).get('quick_gelu', False))
    try:
        model = open_clip.create_model(name, pretrained=tag, force_quick_gelu=quick_gelu)
    except Exception as error:  # noqa: BLE001 - any download failure gets the same advice
        raise CLIPLoadError(
            f'could not get pretrained weights {tag!r} for CLIP {name!r} ({type(error).__name__}: {error}). '
            'Without network access, download them on another machine and pass the file: '
            'model.clip.pretrained=/path/to/weights.pt (OpenAI releases such as ViT-B-16.pt work as they are).'
        ) from error
    print_log(f'CLIP: {name} with open_clip weights {tag!r}', logger='current')
    return model


def build_clip(name: Optional[str], pretrained: Optional[str] = None) -> nn.Module:
    """Build an open_clip CLIP model in fp32, eval mode. See the module docstring for the arguments."""
    _register_embedded_configs()
    if pretrained is None:
        if name is None:
            raise CLIPLoadError('model.clip.name and model.clip.pretrained are both None: name an '
                                'architecture, a weights file, or both.')
        _check_model_name(name)
        model = _create_unloaded_model(name)
        print_log(f'CLIP: {name} with RANDOM weights (model.clip.pretrained=None)', logger='current',
                  level=30)
    elif pretrained == 'embedded':
        if name not in EMBEDDED_WEIGHTS:
            if name is not None:
                _check_model_name(name)  # a misspelt name is the likelier mistake: say that first
            raise CLIPLoadError(f"pretrained='embedded' exists for {sorted(EMBEDDED_WEIGHTS)}, not {name!r}: "
                                'give the weights of this CLIP in model.clip.pretrained (a file or an open_clip tag).')
        model = _load_file(name, str(EMBEDDED_WEIGHTS[name]))
    elif _looks_like_path(pretrained):
        model = _load_file(name, os.path.expanduser(pretrained))
    elif name is None:
        raise CLIPLoadError(f'model.clip.pretrained={pretrained!r} is a tag, which needs an architecture: '
                            'set model.clip.name (e.g. ViT-B-16).')
    else:
        model = _load_tag(name, pretrained)
    return model.float().eval()
