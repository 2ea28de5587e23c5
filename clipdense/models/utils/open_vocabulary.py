"""The one vocabulary path of every open-vocabulary model (segmentors now, detectors later).

A model builds its CLIP and text classifier with ``build_clip_and_text``, mixes in ``OpenVocabularyMixin``, sets
its vocabularies with ``init_vocabularies`` and implements ``apply_vocabulary(classes, training)`` to hand class
embeddings to its heads. Everything that follows from a vocabulary is kept in sync in one place: the heads'
classes, ``num_classes``/``out_channels`` (mmseg's inference allocates with them), ``dataset_meta`` (the demo's
legend), and the map from dataset labels to training classes.

Two vocabularies:

* ``vocabulary``: what the model segments or detects at test time (also the label space of the dataset);
* ``train_vocabulary``: the classes the training loop classifies against (seen classes in zero-shot settings;
  the test vocabulary when not given). Dataset labels whose class (by display name) is not in it are ignored in
  training.

Inference precision (``model.precision``: ``'fp32'``, ``'bf16'``, ``'fp16'``, see ``clipdense.utils.precision``)
is held here too: the text classifier encodes in it, and ``val_step``/``test_step`` run the model under its
autocast, so every method honours it the same way; training is untouched (``tools/train.py --amp``).

Checkpoints record the CLIP name and a fingerprint of the text tower (``text_tower_meta``); a visual side trained
against one text tower is silently wrong with another, so ``check_text_tower_meta`` warns once, naming both.
"""
import contextlib
import time
from typing import ContextManager, Optional, Sequence, Tuple, Union

import torch
from mmengine.logging import print_log
from mmengine.structures import BaseDataElement
from torch import nn

from clipdense.models.clip import ClassEmbeddings, TextClassifier, Vocabulary, build_clip
from clipdense.utils.precision import autocast, check_precision

_warned_text_towers = set()


def build_clip_and_text(clip: dict, templates: Union[str, Sequence[str]],
                        text_cache_dir: Optional[str] = 'default',
                        name_style: str = 'as_is',
                        normalize_prompts: bool = True,
                        precision: str = 'fp32') -> Tuple[nn.Module, TextClassifier]:
    """The CLIP of ``clip = dict(name=..., pretrained=...)`` and a text classifier on its text tower.

    The model keeps the text classifier outside its module tree: the text tower is frozen, not part of
    checkpoints, and only used when a vocabulary changes. The CLIP's ``visual`` goes to the model's backbone."""
    clip_model = build_clip(clip['name'], clip.get('pretrained'))
    return clip_model, TextClassifier(clip_model, templates, clip_name=clip['name'], cache_dir=text_cache_dir,
                                      name_style=name_style, normalize_prompts=normalize_prompts,
                                      precision=precision)


def fp32_outputs(samples: list) -> list:
    """``samples`` (data samples) with every floating-point tensor they carry (scores, logits, boxes) in fp32: what
    a bf16/fp16 run computed in a lower format is handed on as fp32, as the metrics and demos expect."""
    def convert(element: BaseDataElement) -> None:
        for key in element.keys():
            value = element.get(key)
            if isinstance(value, BaseDataElement):
                convert(value)
            elif isinstance(value, torch.Tensor) and value.is_floating_point() and value.dtype != torch.float32:
                element.set_field(value.float(), key)

    for sample in samples:
        convert(sample)
    return samples


class OpenVocabularyMixin:
    """Vocabularies of an open-vocabulary model; see the module docstring."""

    ignore_index = 255

    def init_vocabularies(self, text_classifier: TextClassifier, vocabulary, train_vocabulary=None) -> None:
        """Set the text classifier, the test vocabulary and the training one (default: the test vocabulary, kept as
        the classes the model was trained on when the test vocabulary changes later)."""
        self.text_classifier = text_classifier
        self.train_vocabulary = None
        self.set_vocabulary(vocabulary)
        self.set_train_vocabulary(self.vocabulary if train_vocabulary is None else train_vocabulary)

    def set_vocabulary(self, vocabulary) -> None:
        """Segment (or detect) ``vocabulary`` from now on; the number of classes may change."""
        classes = self.text_classifier(vocabulary)
        self.vocabulary = classes.vocabulary
        self.class_embeddings = classes
        self.num_classes = self.out_channels = classes.num_classes
        self.dataset_meta = dict(classes=tuple(self.vocabulary.class_names))
        self.apply_vocabulary(classes, training=False)
        self._update_train_label_map()

    def set_train_vocabulary(self, vocabulary) -> None:
        """Classify against ``vocabulary`` in the training loop from now on."""
        classes = self.text_classifier(vocabulary)
        self.train_vocabulary = classes.vocabulary
        self.apply_vocabulary(classes, training=True)
        self._update_train_label_map()

    def apply_vocabulary(self, classes: ClassEmbeddings, training: bool) -> None:
        """Hand ``classes`` to the model's heads (``training``: the training loop's classes)."""
        raise NotImplementedError

    def _update_train_label_map(self) -> None:
        if getattr(self, 'train_vocabulary', None) is None:
            return
        train_index = {name: index for index, name in enumerate(self.train_vocabulary.class_names)}
        self.train_label_map = torch.tensor(
            [train_index.get(name, self.ignore_index) for name in self.vocabulary.class_names] + [self.ignore_index])
        # Kept apart from the map: with 256 or more training classes, training class 255 is not ``ignore_index``.
        self._seen_classes = torch.tensor([name in train_index for name in self.vocabulary.class_names])

    def to_train_labels(self, labels: torch.Tensor) -> torch.Tensor:
        """Dataset labels (classes of ``vocabulary``, ``ignore_index`` elsewhere) → training classes; labels of
        classes outside ``train_vocabulary`` become ``ignore_index``."""
        label_map = self.train_label_map.to(labels.device)  # its last entry, ignore_index, takes every other label
        return label_map[labels.long().clamp(0, len(label_map) - 1)].to(labels.dtype)

    @property
    def seen_classes(self) -> torch.Tensor:
        """(num_classes,) bool: which classes of ``vocabulary`` are in ``train_vocabulary``."""
        return self._seen_classes

    # ---- precision ---------------------------------------------------------------------------------------------
    @property
    def precision(self) -> str:
        """The inference precision: ``'fp32'``, ``'bf16'`` or ``'fp16'``."""
        return self.text_classifier.precision

    def set_precision(self, precision: str) -> None:
        """Infer in ``precision`` from now on; the vocabularies are encoded again in it (or read from the cache)."""
        classifier = self.text_classifier
        if precision == classifier.precision:
            return
        classifier.precision = check_precision(precision)
        self.apply_precision(precision)
        train_vocabulary = self.train_vocabulary
        self.set_vocabulary(self.vocabulary)
        self.set_train_vocabulary(train_vocabulary)

    def apply_precision(self, precision: str) -> None:
        """Hand ``precision`` to parts that lower themselves (a detector's region tower); nothing by default."""

    def lowered_precision(self) -> ContextManager:
        """The autocast of ``precision`` at inference (nothing in training: ``--amp`` governs it)."""
        if self.training:
            return contextlib.nullcontext()
        return autocast(self.precision, next(self.parameters()).device)

    # Segmentors run their whole inference step lowered and hand back fp32 scores; detectors lower parts only.
    autocast_whole_step = True

    def val_step(self, data):
        return self._inference_step(super().val_step, data)

    def test_step(self, data):
        return self._inference_step(super().test_step, data)

    def _inference_step(self, step, data):
        started = time.perf_counter()
        if not self.autocast_whole_step or self.precision == 'fp32':
            outputs = step(data)
        else:
            with self.lowered_precision():
                outputs = fp32_outputs(step(data))
        if getattr(self, '_compiling', False):
            self._compiling = False
            print_log(f'first inference step with torch.compile: {time.perf_counter() - started:.1f} s (compiled '
                      'graphs are reused by later steps of this process)', logger='current')
        return outputs

    # ---- compilation -------------------------------------------------------------------------------------------
    def vision_tower(self) -> nn.Module:
        """The module ``compile_towers`` compiles: the backbone (the CLIP vision tower and what the method adds)."""
        return self.backbone

    def compile_towers(self) -> None:
        """``torch.compile`` the vision tower in place (opt-in: ``--compile``, ``init_model(compile=True)``);
        state-dict keys are unchanged. The first step compiles (its time is logged); outputs are fp32's up to
        the compiler's reordering of floating-point operations."""
        tower = self.vision_tower()
        if getattr(tower, '_compiled_call_impl', None) is None:
            tower.compile()
            self._compiling = True

    # ---- checkpoints ---------------------------------------------------------------------------------------
    def text_tower_meta(self) -> dict:
        """What a checkpoint records of the text tower this model was trained against."""
        return dict(clip_name=self.text_classifier.clip_name, fingerprint=self.text_classifier.fingerprint)

    def check_text_tower_meta(self, meta: Optional[dict], source: str = 'the checkpoint') -> None:
        """Warn once when ``meta`` (a checkpoint's ``meta``) names another text tower than this model's."""
        recorded = (meta or {}).get('text_tower')
        if not recorded:
            return
        current = self.text_tower_meta()
        if recorded.get('fingerprint') == current['fingerprint']:
            return
        key = (recorded.get('fingerprint'), current['fingerprint'])
        if key in _warned_text_towers:
            return
        _warned_text_towers.add(key)
        print_log(
            f"{source} was trained against the text tower of CLIP {recorded.get('clip_name')!r} (fingerprint "
            f"{str(recorded.get('fingerprint'))[:12]}), but this model encodes its vocabulary with CLIP "
            f"{current['clip_name']!r} (fingerprint {current['fingerprint'][:12]}): its visual side will be compared "
            'with text embeddings it was not trained with, which gives silently wrong results. Set '
            'model.clip.pretrained to the weights the checkpoint was trained with.', logger='current', level=30)
