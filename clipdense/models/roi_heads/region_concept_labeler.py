"""RegionCLIP's pseudo region-concept labels: a frozen CLIP teacher names each region with a concept of a pool."""
import os
from dataclasses import dataclass
from typing import Optional, Sequence, Union

import torch
import torch.nn.functional as F
from mmengine.model import BaseModule

from clipdense.models.backbones import CLIPResNetC4
from clipdense.models.clip import Vocabulary
from clipdense.models.utils import build_clip_and_text
from clipdense.registry import MODELS
from clipdense.utils import UserError


class ConceptPoolError(UserError, ValueError):
    """A concept pool that cannot be used: missing file, no concepts."""


@dataclass
class ConceptPseudoLabels:
    """Per region: ``probabilities`` (K, C) over the concepts, the best concept ``labels`` (K,) and ``kept`` (K,),
    the regions whose best probability passes the threshold."""

    probabilities: torch.Tensor
    labels: torch.Tensor
    kept: torch.Tensor


def read_concept_pool(path: str) -> Vocabulary:
    """A concept file as the reference's (``googlecc_nouns_6250.txt``, ``extract_concept_features.py``): one concept
    per line, the whole stripped line (no synonyms); blank lines are skipped."""
    if not os.path.isfile(path):
        raise ConceptPoolError(f'concept file not found: {path}: give a text file with one concept per line')
    with open(path, encoding='utf-8') as f:
        concepts = [line.strip() for line in f if line.strip()]
    if not concepts:
        raise ConceptPoolError(f'concept file {path} holds no concept: write one concept (a noun) per line')
    return Vocabulary(tuple((concept,) for concept in concepts))


def concept_pseudo_labels(region_embeddings: torch.Tensor, concept_embeddings: torch.Tensor,
                          temperature: float = 0.01, threshold: float = 0.1) -> ConceptPseudoLabels:
    """RegionCLIP's ``get_psuedo_concept_labels`` (``meta_arch/clip_rcnn.py``): softmax over the concepts of the
    cosine between the L2-normalised region and concept embeddings divided by ``temperature``; a region is kept
    when its best probability is ``> threshold``. When no region passes, every region with a best probability
    above 0 (all of them) is kept, as the reference does rather than train on nothing."""
    if concept_embeddings.shape[0] == 0:
        raise ConceptPoolError('the concept pool is empty: give at least one concept (a file with one per line)')
    cosine = F.normalize(region_embeddings, dim=-1) @ F.normalize(concept_embeddings, dim=-1).t()
    probabilities = F.softmax(cosine / temperature, dim=1)
    best, labels = probabilities.max(dim=1)
    kept = best > threshold
    if not kept.any():
        kept = best > 0
    return ConceptPseudoLabels(probabilities, labels, kept)


@MODELS.register_module()
class RegionConceptLabeler(BaseModule):
    """The teacher side of RegionCLIP's region–concept pretraining (``PretrainFastRCNN``): a frozen CLIP ResNet
    (always in eval mode, run without gradients) embeds regions as the detector does — RoIAlign on its res4,
    ``layer4``, attention pool — and ``concept_pseudo_labels`` names them with the concept pool, encoded by the same
    CLIP's text tower through clipdense's text path (RegionCLIP's 81 templates, mean of un-normalised prompts).

    Args:
        clip: the teacher, ``dict(name='RN50', pretrained='openai')`` (the reference's teacher is OpenAI's CLIP).
        concepts: a concept file (one per line, ``read_concept_pool``) or a list of concept names.
        roi_extractor: RoIAlign on res4, e.g. ``RoIExtractor`` at 14×14, aligned (``TEACHER_POOLER_RESOLUTION``).
        temperature: 0.01 (the reference's ``s_temp``); threshold: 0.1 (``CONCEPT_THRES``).
    """

    def __init__(self, clip: dict, concepts: Union[str, Sequence[str]], roi_extractor: dict,
                 temperature: float = 0.01, threshold: float = 0.1,
                 templates: Union[str, Sequence[str]] = 'regionclip81', name_style: str = 'regionclip',
                 normalize_prompts: bool = False,
                 text_cache_dir: Optional[str] = 'default', init_cfg: Optional[dict] = None):
        super().__init__(init_cfg=init_cfg)
        clip_model, self.text_classifier = build_clip_and_text(clip, templates, text_cache_dir, name_style,
                                                               normalize_prompts=normalize_prompts)
        self.teacher = CLIPResNetC4(visual=clip_model.visual, frozen_stages=4).requires_grad_(False)
        self.roi_extractor = MODELS.build(roi_extractor)
        self.temperature = temperature
        self.threshold = threshold
        self.set_concepts(concepts)
        self.teacher.eval()

    def set_concepts(self, concepts: Union[str, Sequence[str]]) -> None:
        """Encode the concept pool (a file or a list of names) with the teacher's text tower."""
        if isinstance(concepts, str):
            vocabulary = read_concept_pool(concepts)
        elif not concepts:
            raise ConceptPoolError('the concept pool is empty: give a concept file (one per line) or concept names')
        else:
            vocabulary = Vocabulary(tuple((concept,) for concept in concepts))
        self.concepts = vocabulary
        self.register_buffer('concept_embeddings', self.text_classifier(vocabulary).embeddings, persistent=False)

    def init_weights(self):
        """The teacher is CLIP as loaded; mmengine's initialisers keep off."""

    def train(self, mode: bool = True):
        super().train(mode)
        self.teacher.eval()  # the teacher never trains
        return self

    @torch.no_grad()
    def region_embeddings(self, images: torch.Tensor, rois: torch.Tensor) -> torch.Tensor:
        """The teacher's un-normalised embeddings (K, embed_dim) of ``rois`` (K, 5: batch index, x1y1x2y2)."""
        features = self.teacher(images)
        roi_maps = self.roi_extractor(features[:self.roi_extractor.num_inputs], rois)
        return self.teacher.attention_pool(self.teacher.run_res5(roi_maps))

    @torch.no_grad()
    def forward(self, images: torch.Tensor, rois: torch.Tensor) -> ConceptPseudoLabels:
        """Pseudo concept labels of ``rois`` (the reference: 100 of the offline RPN's 300 proposals per image)."""
        return concept_pseudo_labels(self.region_embeddings(images, rois), self.concept_embeddings,
                                     self.temperature, self.threshold)
