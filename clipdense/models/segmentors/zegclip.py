from typing import List, Optional, Sequence

import torch

from clipdense.models.clip import ClassEmbeddings, Vocabulary
from clipdense.registry import MODELS

from .clip_encoder_decoder import CLIPEncoderDecoder


@MODELS.register_module()
class ZegCLIP(CLIPEncoderDecoder):
    """ZegCLIP (Zhou et al., CVPR 2023; ZiqinZhou66/ZegCLIP): a frozen CLIP ViT with deep prompts
    (``DeepPromptCLIPViT``) and a decoder whose attention scores are the class masks (``ZegCLIPHead``).

    Settings, as the reference's configs:

    * inductive: ``train_vocabulary`` = the seen classes; dataset labels of unseen classes are ignored in training
      (they stay negatives of every class in the focal loss);
    * transductive: ``train_vocabulary`` = every class and ``pseudo_label_classes`` = the unseen ones, whose pixels
      take the best-scoring unseen class of the same forward pass as their training label;
    * fully supervised: one vocabulary.

    Scores: per window ``sigmoid(mask logits)`` minus ``seen_penalty`` on the penalised classes (``penalize='seen'``:
    classes of the test vocabulary that are in the training vocabulary — the inductive configs; ``'all'``: every
    class — the reference's fully supervised and cross-dataset configs, where it changes no label), windows averaged
    (``CLIPEncoderDecoder.slide_inference``). ``seg_logits`` holds these averaged scores resized to the original
    image; labels are their argmax (the reference's softmax before the argmax changes none). Transductive configs
    set ``seen_penalty=0``.

    Args:
        seen_penalty: subtracted from the scores of penalised classes at test time.
        penalize: ``'seen'`` or ``'all'`` (see above).
        pseudo_label_classes: classes of the test vocabulary whose training labels are replaced by pseudo labels
            (transductive; names or a class-name file); ``None`` otherwise.
        **kwargs: ``CLIPEncoderDecoder``'s.
    """

    def __init__(self, seen_penalty: float = 0.1, penalize: str = 'seen',
                 pseudo_label_classes: Optional[Sequence[str]] = None, **kwargs):
        if penalize not in ('seen', 'all'):
            raise ValueError(f"penalize must be 'seen' or 'all', got {penalize!r}")
        self.seen_penalty, self.penalize = seen_penalty, penalize
        self.pseudo_label_class_names = (Vocabulary.parse(pseudo_label_classes).class_names
                                         if pseudo_label_classes else None)
        super().__init__(**kwargs)

    def apply_vocabulary(self, classes: ClassEmbeddings, training: bool) -> None:
        super().apply_vocabulary(classes, training)
        if not training and self.pseudo_label_class_names is not None:
            self.decode_head.pseudo_label_classes = self._class_indices(self.pseudo_label_class_names)

    def _class_indices(self, names: Sequence[str]) -> torch.Tensor:
        known = self.vocabulary.class_names
        missing = [name for name in names if name not in known]
        if missing:
            raise ValueError(f'pseudo_label_classes {missing} are not classes of the vocabulary {known}.')
        return torch.tensor([known.index(name) for name in names])

    @property
    def score_penalty(self) -> torch.Tensor:
        """(num_classes,) what is subtracted from each class's sigmoid score at test time."""
        penalised = self.seen_classes if self.penalize == 'seen' else torch.ones(self.num_classes, dtype=torch.bool)
        return self.seen_penalty * penalised.float()

    def encode_decode(self, inputs: torch.Tensor, batch_img_metas: List[dict]) -> torch.Tensor:
        """Scores (B, classes, H, W) of images or windows at their input size: sigmoid of the mask logits minus the
        penalty."""
        logits = super().encode_decode(inputs, batch_img_metas)
        return logits.sigmoid() - self.score_penalty.to(logits)[None, :, None, None]
