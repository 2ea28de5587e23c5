"""The detectors' classifier: region embeddings against frozen text embeddings of the vocabulary."""
from typing import Optional

import torch
import torch.nn.functional as F
from torch import nn

from clipdense.models.clip import ClassEmbeddings, max_over_synonyms
from clipdense.registry import MODELS

BACKGROUNDS = ('learned', 'zero', 'none')


@MODELS.register_module()
class RegionTextClassifier(nn.Module):
    """Cosine between region embeddings and the vocabulary's text embeddings × ``temperature``, best synonym per
    class, with the method's background column last (mmdet's convention: label ``num_classes`` is background).

    Built as a box head's ``fc_cls`` (mmdet's ``cls_predictor_cfg``); ``out_features`` is ignored because the
    number of classes follows the vocabulary (``set_class_embeddings``).

    Args:
        in_features: width of the box head's last layer.
        embed_dim: width of CLIP's joint space.
        projection: a linear map ``in_features → embed_dim`` before the cosine (ViLD's ``project-to-clip``);
            without it ``in_features`` must equal ``embed_dim`` (RegionCLIP's attention-pool output).
        temperature: logits are ``temperature · cos`` (ViLD 100, RegionCLIP 1/0.01).
        background: ``'learned'`` — a trained embedding (N(0, ``background_init_std``), L2-normalised) scored
            like a class (ViLD); ``'zero'`` — a fixed zero embedding, i.e. logit 0 (RegionCLIP); ``'none'`` — no
            background column (ViLD-ensemble's image branch).
    """

    def __init__(self, in_features: int, embed_dim: int, out_features: Optional[int] = None,
                 projection: bool = True, temperature: float = 100.0, background: str = 'learned',
                 background_init_std: float = 0.01):
        super().__init__()
        if background not in BACKGROUNDS:
            raise ValueError(f'background must be one of {BACKGROUNDS}, got {background!r}')
        if not projection and in_features != embed_dim:
            raise ValueError(f'without a projection the region width ({in_features}) must equal the text '
                             f'embedding width ({embed_dim})')
        self.projection = nn.Linear(in_features, embed_dim) if projection else None
        self.temperature = temperature
        self.background = background
        self.background_init_std = background_init_std
        if background == 'learned':
            self.background_embedding = nn.Parameter(torch.empty(embed_dim).normal_(0, background_init_std))
        # Classes of the test vocabulary and of the training loop (not checkpointed: they follow the vocabulary).
        self.register_buffer('text_embeddings', torch.zeros(0, embed_dim), persistent=False)
        self.register_buffer('name_to_class', torch.zeros(0, dtype=torch.long), persistent=False)
        self.register_buffer('train_text_embeddings', torch.zeros(0, embed_dim), persistent=False)
        self.register_buffer('train_name_to_class', torch.zeros(0, dtype=torch.long), persistent=False)
        self.num_classes = self.num_train_classes = 0
        # Classes of the test vocabulary outside the training one get logit 0 in training (ViLD's mask_rare).
        self.num_untrained_classes = 0

    def init_weights(self) -> None:
        if self.projection is not None:
            nn.init.xavier_uniform_(self.projection.weight)  # TF dense layers' default (glorot uniform)
            nn.init.zeros_(self.projection.bias)
        if self.background == 'learned':
            nn.init.normal_(self.background_embedding, 0, self.background_init_std)

    def set_class_embeddings(self, classes: ClassEmbeddings, training: bool) -> None:
        """Classify against ``classes`` at test time, or in the training loop (``training``)."""
        device = self.text_embeddings.device
        embeddings, name_to_class = classes.embeddings.to(device).float(), classes.name_to_class.to(device)
        if training:
            self.train_text_embeddings, self.train_name_to_class = embeddings, name_to_class
            self.num_train_classes = classes.num_classes
        else:
            self.text_embeddings, self.name_to_class = embeddings, name_to_class
            self.num_classes = classes.num_classes

    def embed(self, features: torch.Tensor) -> torch.Tensor:
        """L2-normalised region embeddings in CLIP's space."""
        if self.projection is not None:
            features = self.projection(features)
        return F.normalize(features, dim=-1)

    def classify(self, embeddings: torch.Tensor, with_background: bool = True) -> torch.Tensor:
        """Logits of normalised ``embeddings`` (N, embed_dim): (N, C [+ 1]) over the test vocabulary, or in
        training mode over the training classes followed by ``num_untrained_classes`` zeros."""
        if self.training:
            text, name_to_class, num_classes = (self.train_text_embeddings, self.train_name_to_class,
                                                self.num_train_classes)
        else:
            text, name_to_class, num_classes = self.text_embeddings, self.name_to_class, self.num_classes
        if num_classes == 0:
            raise RuntimeError('RegionTextClassifier has no class embeddings: set a vocabulary first')
        cosine = embeddings @ text.to(embeddings.dtype).t()
        logits = [max_over_synonyms(cosine, name_to_class, num_classes) * self.temperature]
        if self.training and self.num_untrained_classes:
            logits.append(embeddings.new_zeros(len(embeddings), self.num_untrained_classes))
        if with_background and self.background == 'learned':
            background = F.normalize(self.background_embedding, dim=0).to(embeddings.dtype)
            logits.append((embeddings @ background)[:, None] * self.temperature)
        elif with_background and self.background == 'zero':
            logits.append(embeddings.new_zeros(len(embeddings), 1))
        return torch.cat(logits, dim=1)

    def forward(self, features: torch.Tensor) -> torch.Tensor:
        return self.classify(self.embed(features))

    def extra_repr(self) -> str:
        return (f'temperature={self.temperature}, background={self.background!r}, '
                f'num_classes={self.num_classes}')
