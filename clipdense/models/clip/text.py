"""Text classifier: class embeddings for a vocabulary from a CLIP text tower.

For each name: every template filled with the name is encoded, each prompt embedding L2-normalised, the
mean over templates taken and normalised again (the recipe of CLIP's zero-shot classifier, which all the
reference repositories follow). Encoding cuts the token context at the longest prompt of the batch: under
CLIP's causal mask the end-of-text token never sees the padding after it, so the result is exact.

Results are cached on disk, keyed by a fingerprint of the text tower's weights, the names, the templates and
the precision (bf16/fp16 encodings are kept apart from exact fp32 ones), so a vocabulary is encoded once per
machine.
"""
import hashlib
import os
import sys
import time
from dataclasses import dataclass
from typing import List, Optional, Sequence, Union

import open_clip
import torch
import torch.nn.functional as F
from open_clip.transformer import QuickGELU
from mmengine.logging import print_log
from mmengine.utils import ProgressBar
from torch import nn

from clipdense.utils import UserError
from clipdense.utils.precision import autocast, check_precision
from .templates import NAME_STYLES, format_prompt, resolve_templates
from .vocabulary import Vocabulary, VocabularySpec


# Encoding that will take longer than this (estimated from the first batch) shows a progress bar with an ETA.
PROGRESS_AFTER_SECONDS = 2.0


def default_cache_dir() -> str:
    root = os.environ.get('CLIPDENSE_CACHE', os.path.join(os.path.expanduser('~'), '.cache', 'clipdense'))
    return os.path.join(root, 'text')


@dataclass
class ClassEmbeddings:
    """Embeddings of every name of a vocabulary and the class each name belongs to."""

    embeddings: torch.Tensor  # (num_names, dim), L2-normalised
    name_to_class: torch.Tensor  # (num_names,) long
    vocabulary: Vocabulary

    @property
    def num_classes(self) -> int:
        return len(self.vocabulary)

    def to(self, device) -> 'ClassEmbeddings':
        return ClassEmbeddings(self.embeddings.to(device), self.name_to_class.to(device), self.vocabulary)


def max_over_synonyms(scores: torch.Tensor, name_to_class: torch.Tensor, num_classes: int) -> torch.Tensor:
    """Per-class maximum of per-name ``scores`` (B, num_names, ...) -> (B, num_classes, ...).

    ``name_to_class`` is a vocabulary's (``Vocabulary.name_to_class``): classes in order, each with at least one
    name. So as many names as classes means one name per class, in order, and the maximum is the score itself."""
    if scores.shape[1] == num_classes:
        return scores
    shape = (scores.shape[0], num_classes, *scores.shape[2:])
    index = name_to_class.view(1, -1, *([1] * (scores.dim() - 2))).expand_as(scores)
    return scores.new_full(shape, float('-inf')).scatter_reduce(1, index, scores, reduce='amax')


class _CausalTextTower:
    """The pieces of a CLIP text transformer (open_clip ``CLIP`` or ``TextTransformer``) needed to encode
    tokens at a shortened context. ``None`` from ``of`` when the tower is not a causal, argmax-pooled one."""

    def __init__(self, owner: nn.Module):
        self.owner = owner

    @classmethod
    def of(cls, model: nn.Module) -> Optional['_CausalTextTower']:
        owner = model.text if hasattr(model, 'text') else model
        needed = ('token_embedding', 'positional_embedding', 'transformer', 'ln_final', 'text_projection',
                  'attn_mask')
        if not all(hasattr(owner, attr) for attr in needed) or owner.attn_mask is None:
            return None
        pool = getattr(owner, 'text_pool_type', getattr(owner, 'pool_type', None))
        if pool != 'argmax' or getattr(owner, 'cls_emb', None) is not None:
            return None
        return cls(owner)

    def encode(self, tokens: torch.Tensor) -> torch.Tensor:
        owner = self.owner
        length = tokens.shape[1]
        x = owner.token_embedding(tokens) + owner.positional_embedding[:length]
        x = owner.transformer(x, attn_mask=owner.attn_mask[:length, :length])
        x = owner.ln_final(x)
        x = x[torch.arange(x.shape[0], device=x.device), tokens.argmax(dim=-1)]
        projection = owner.text_projection
        return projection(x) if isinstance(projection, nn.Linear) else x @ projection


# Tensors outside the vision tower that change no text embedding.
_NOT_TEXT_TOWER = ('logit_scale', 'logit_bias')


def text_tower_fingerprint(model: nn.Module) -> str:
    """A hash of every tensor that determines the text embeddings (the model's parameters and buffers outside
    ``visual``, without the logit scale/bias), by name and value."""
    return text_state_fingerprint({key: tensor for key, tensor in model.state_dict().items()
                                   if not key.startswith('visual.') and key not in _NOT_TEXT_TOWER})


def uses_quick_gelu(model: nn.Module) -> bool:
    """Whether the text tower runs QuickGELU (OpenAI's activation; open_clip builds GELU unless told). open_clip
    gives both towers the same activation, so this is the model's too, ModifiedResNets included."""
    return any(isinstance(module, QuickGELU) for name, module in model.named_modules()
               if not name.startswith('visual'))


def text_state_fingerprint(state_dict: dict) -> str:
    """``text_tower_fingerprint`` of a text tower's tensors given by their open_clip names (converters compute it
    for released checkpoints that carry their text encoder)."""
    digest = hashlib.sha1()
    for key, tensor in sorted(state_dict.items()):
        digest.update(key.encode())
        digest.update(tensor.detach().float().cpu().contiguous().numpy().tobytes())
    return digest.hexdigest()


class TextClassifier:
    """Builds (and caches) ``ClassEmbeddings`` for vocabularies with a CLIP model's text tower.

    Args:
        clip_model: an open_clip CLIP model.
        tokenizer: an open_clip tokenizer; default ``open_clip.get_tokenizer(clip_name)``.
        templates: a template-set name (``imagenet80``, ``maskclip85`` ...) or a list of ``{}`` patterns.
        name_style: how names are written into the templates (``templates.NAME_STYLES``: ``'as_is'``, ``'vild'``,
            ``'regionclip'``).
        clip_name: the open_clip name, used to pick the tokenizer.
        cache_dir: where encoded vocabularies are kept; ``None`` disables the disk cache.
        batch_size: prompts encoded per forward pass.
        normalize_prompts: L2-normalise each prompt's embedding before the mean over templates (CLIP's recipe);
            False takes the mean of the un-normalised embeddings (RegionCLIP's ``extract_concept_features.py``).
            The mean is normalised either way (RegionCLIP's head normalises it).
        precision: ``'fp32'``, ``'bf16'`` or ``'fp16'`` (``clipdense.utils.precision``): the format the text tower
            runs in; the embeddings are returned (and cached) as fp32 tensors either way.
    """

    def __init__(self, clip_model: nn.Module, templates: Union[str, Sequence[str]] = 'imagenet80',
                 clip_name: Optional[str] = None, tokenizer=None, cache_dir: Optional[str] = 'default',
                 batch_size: int = 256, name_style: str = 'as_is', normalize_prompts: bool = True,
                 precision: str = 'fp32'):
        if name_style not in NAME_STYLES:
            raise KeyError(f'unknown name style {name_style!r}; known: {sorted(NAME_STYLES)}')
        self.clip_model = clip_model
        self.name_style = name_style
        self.normalize_prompts = normalize_prompts
        self.precision = check_precision(precision)
        self.clip_name = clip_name
        self.templates = resolve_templates(templates)
        self.tokenizer = tokenizer or self._default_tokenizer(clip_model, clip_name)
        self.cache_dir = default_cache_dir() if cache_dir == 'default' else cache_dir
        self.batch_size = batch_size
        self.tower = _CausalTextTower.of(clip_model)
        if self.tower is None:
            print_log('text tower is not a causal CLIP transformer: prompts are encoded at full context',
                      logger='current')
        self._fingerprint: Optional[str] = None
        self._memory = {}

    @staticmethod
    def _default_tokenizer(clip_model: nn.Module, clip_name: Optional[str]):
        context_length = getattr(clip_model, 'context_length', 77)
        if clip_name is None:
            return open_clip.SimpleTokenizer(context_length=context_length)
        return open_clip.get_tokenizer(clip_name, context_length=context_length)

    @property
    def fingerprint(self) -> str:
        """``text_tower_fingerprint`` of the text tower (computed once)."""
        if self._fingerprint is None:
            self._fingerprint = text_tower_fingerprint(self.clip_model)
        return self._fingerprint

    def _cache_key(self, names: List[str]) -> str:
        digest = hashlib.sha1(self.fingerprint.encode())
        digest.update('\x00'.join(self.templates).encode())
        if self.name_style != 'as_is':  # keys of the default style stay those of existing caches
            # the rewritten names too, so that a style whose rewriting changes does not read stale embeddings
            rewrite = NAME_STYLES[self.name_style]
            digest.update(('\x02' + self.name_style + '\x00'.join(rewrite(name) for name in names)).encode())
        if not self.normalize_prompts:
            digest.update(b'\x03unnormalised-mean')
        if uses_quick_gelu(self.clip_model):  # the activation has no tensor the fingerprint could see
            digest.update(b'\x05quick-gelu')
        if self.precision != 'fp32':
            digest.update(f'\x04{self.precision}'.encode())
        digest.update(b'\x01')
        digest.update('\x00'.join(names).encode())
        return digest.hexdigest()

    @property
    def device(self) -> torch.device:
        """Where the text tower is (segmentors move only the vision tower they hold)."""
        owner = self.clip_model.text if hasattr(self.clip_model, 'text') else self.clip_model
        embedding = getattr(owner, 'token_embedding', None)
        return embedding.weight.device if embedding is not None else next(owner.parameters()).device

    @torch.no_grad()
    def encode_prompts(self, prompts: List[str]) -> torch.Tensor:
        """Unnormalised text embeddings of ``prompts``, ``batch_size`` at a time.

        When the first batch's time says the others will take longer than ``PROGRESS_AFTER_SECONDS``, they are
        counted on mmengine's progress bar (with an ETA) on stdout.
        """
        device = self.device
        outputs = []
        progress = None
        for start in range(0, len(prompts), self.batch_size):
            batch_started = time.perf_counter()
            batch = prompts[start:start + self.batch_size]
            tokens = self.tokenizer(batch).to(device)
            with autocast(self.precision, device):
                if self.tower is not None:
                    length = int(tokens.argmax(dim=-1).max()) + 1
                    outputs.append(self.tower.encode(tokens[:, :length]).float())
                else:
                    outputs.append(self.clip_model.encode_text(tokens).float())
            if progress is not None:
                progress.update(len(batch))
            elif start == 0:
                remaining = len(prompts) - len(batch)
                seconds_per_prompt = (time.perf_counter() - batch_started) / len(batch)
                if remaining and seconds_per_prompt * remaining > PROGRESS_AFTER_SECONDS:
                    # The bar counts the remaining prompts, so that its rate and ETA are those measured.
                    progress = ProgressBar(remaining, file=sys.stdout)
        if progress is not None:
            sys.stdout.write('\n')  # mmengine's bar leaves the line open
            sys.stdout.flush()
        return torch.cat(outputs)

    @torch.no_grad()
    def encode_names(self, names: List[str]) -> torch.Tensor:
        """(len(names), dim): per name, the renormalised mean of its (normalised, see ``normalize_prompts``)
        template embeddings."""
        prompts = [format_prompt(template, name, self.name_style) for name in names for template in self.templates]
        embeddings = self.encode_prompts(prompts)
        if self.normalize_prompts:
            embeddings = F.normalize(embeddings, dim=-1)
        embeddings = embeddings.view(len(names), len(self.templates), -1).mean(dim=1)
        return F.normalize(embeddings, dim=-1)

    def __call__(self, vocabulary: VocabularySpec) -> ClassEmbeddings:
        vocabulary = Vocabulary.parse(vocabulary)
        for name, classes in vocabulary.shared_names.items():
            print_log(f'vocabulary: {name!r} names classes {classes}; where it wins, class {min(classes)} is '
                      'chosen (as in the reference repositories)', logger='current', level=30)
        names = vocabulary.names
        key = self._cache_key(names)
        embeddings = self._memory.get(key)
        path = os.path.join(self.cache_dir, f'{key}.pt') if self.cache_dir else None
        if embeddings is None and path and os.path.isfile(path):
            embeddings = torch.load(path, map_location='cpu', weights_only=True)
        if embeddings is None:
            print_log(f'encoding {len(names)} names x {len(self.templates)} templates', logger='current')
            embeddings = self.encode_names(names).cpu()
            if path:
                os.makedirs(self.cache_dir, exist_ok=True)
                tmp = f'{path}.{os.getpid()}.tmp'
                torch.save(embeddings, tmp)
                os.replace(tmp, path)
        self._memory[key] = embeddings
        return ClassEmbeddings(embeddings, torch.tensor(vocabulary.name_to_class), vocabulary)


class ClassEmbeddingsFileError(UserError, ValueError):
    """A released class-embeddings file that cannot serve the vocabulary it is given for."""


class ReleasedClassEmbeddings:
    """A text classifier that uses class embeddings a reference released for ``vocabulary`` (e.g. ViLD's LVIS
    classifier kernel, which ``tools/model_converters/vild2clipdense.py`` writes beside the checkpoint) in place of
    encoding them, so the converted model scores classes as the released one does.

    ``file`` holds ``dict(embeddings=(C, D))``, row ``i`` for class ``i`` of ``vocabulary`` (normalised here). A
    vocabulary whose every class is a class of ``vocabulary`` (its training subset, a reordering) takes those rows;
    another is encoded by ``text_classifier``, and the log says so. Everything else is ``text_classifier``'s."""

    def __init__(self, text_classifier: TextClassifier, vocabulary: VocabularySpec, file: str):
        if not os.path.isfile(file):
            raise ClassEmbeddingsFileError(f'class embeddings file {file!r} does not exist (model.class_embeddings; '
                                           'the converter writes it beside the checkpoint)')
        embeddings = torch.load(file, map_location='cpu', weights_only=True)
        embeddings = embeddings.get('embeddings') if isinstance(embeddings, dict) else None
        vocabulary = Vocabulary.parse(vocabulary)
        if not isinstance(embeddings, torch.Tensor) or embeddings.dim() != 2:
            raise ClassEmbeddingsFileError(f'{file} holds no (classes, dim) tensor under "embeddings"')
        if len(embeddings) != len(vocabulary):
            raise ClassEmbeddingsFileError(
                f'{file} holds {len(embeddings)} class embeddings but the vocabulary has {len(vocabulary)} classes: '
                'use the vocabulary the embeddings were released for (model.vocabulary)')
        self.text_classifier = text_classifier
        self.file = file
        self.rows = dict(zip(vocabulary.class_names, F.normalize(embeddings.float(), dim=-1)))

    def __getattr__(self, name: str):
        return getattr(self.__dict__['text_classifier'], name)

    def __call__(self, vocabulary: VocabularySpec) -> ClassEmbeddings:
        vocabulary = Vocabulary.parse(vocabulary)
        names = vocabulary.class_names
        unknown = [name for name in names if name not in self.rows]
        if unknown:
            print_log(f'{len(unknown)} classes (e.g. {unknown[0]!r}) have no released embedding in {self.file}: '
                      'the vocabulary is encoded by CLIP', logger='current')
            return self.text_classifier(vocabulary)
        return ClassEmbeddings(torch.stack([self.rows[name] for name in names]), torch.arange(len(names)), vocabulary)
