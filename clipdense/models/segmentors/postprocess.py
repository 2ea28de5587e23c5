"""From per-name cosine logits to class probabilities and a label map (shared by training-free methods)."""
from typing import Optional

import torch

from clipdense.models.clip import max_over_synonyms


def names_to_class_probs(cosine: torch.Tensor, name_to_class: torch.Tensor, num_classes: int,
                         logit_scale: float) -> torch.Tensor:
    """``softmax(logit_scale · cos)`` over all names, then each class keeps its best synonym.

    Args:
        cosine: (num_names, H, W) cosine similarities, **spent**: scaled in place and, on a CPU, overwritten by
            the softmax (at full resolution each fresh map is ~200 MB at ADE-150).
    """
    scaled = cosine.mul_(logit_scale)
    if scaled.device.type == 'cpu':
        # On a CPU, mapping a fresh output costs more in page faults than the softmax itself (~50 of ~95 ms at
        # ADE-150). The kernel reads each element before it writes it: same bits (tests/test_training_free.py).
        probs = torch.softmax(scaled, 0, out=scaled)
    else:
        probs = scaled.softmax(dim=0)
    return max_over_synonyms(probs[None], name_to_class, num_classes)[0]


def suppress_small_classes(probs: torch.Tensor, area_thd: float, background: int = 0) -> torch.Tensor:
    """SCLIP's area threshold: a class keeps its probabilities only if its argmax area is strictly larger
    than ``area_thd`` times the whole non-background predicted area; the background is never touched.
    ``probs`` are zeroed in place."""
    labels = probs.max(dim=0).indices  # argmax's labels, in a third of a CPU's time
    areas = torch.bincount(labels.flatten(), minlength=probs.shape[0]).to(probs.dtype)
    foreground = areas.sum() - areas[background]
    keep = areas > area_thd * foreground
    keep[background] = True
    return probs.mul_(keep.to(probs.dtype).view(-1, 1, 1))


def label_map(probs: torch.Tensor, prob_thd: float = 0.0, background: Optional[int] = 0) -> torch.Tensor:
    """Argmax labels (1, H, W); pixels whose best probability is below ``prob_thd`` become ``background``."""
    best, labels = probs.max(dim=0, keepdim=True)
    if prob_thd > 0:
        if background is None:
            raise ValueError('prob_thd needs a background class: this vocabulary has none (set background=0 '
                             'for datasets whose class 0 is background, or prob_thd=0).')
        labels[best < prob_thd] = background
    return labels


def unflip(maps: torch.Tensor, sample) -> torch.Tensor:
    """Maps (N, C, h, w) of a flipped input flipped back, as mmseg's ``postprocess_result`` does for test-time
    flip augmentation (the sample's ``flip``/``flip_direction`` meta)."""
    if not sample.metainfo.get('flip', False):
        return maps
    direction = sample.metainfo.get('flip_direction', 'horizontal')
    if direction not in ('horizontal', 'vertical'):
        raise ValueError(f'flip_direction {direction!r} is not supported: use horizontal or vertical flips.')
    return maps.flip(dims=(3,) if direction == 'horizontal' else (2,))
