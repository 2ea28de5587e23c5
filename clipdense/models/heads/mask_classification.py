"""What mask-classification heads (SAN, FC-CLIP) share: class logits per class from logits per name, the
semantic combination of masks and classes, mask pooling, and how the segmentor combines them at test time."""
import torch
import torch.nn.functional as F

from clipdense.models.clip import ClassEmbeddings, max_over_synonyms

MASK_COMBINES = ('original', 'padded')


def mask_combine(test_cfg) -> str:
    """``test_cfg.mask_combine`` (default ``'original'``), checked: ``'original'`` resizes the mask logits to the
    original image before combining them with the classes (Mask2Former's ``sem_seg_postprocess`` first);
    ``'padded'`` combines at the padded input and crops and resizes the class map (mmseg's post-processing)."""
    combine = (test_cfg or {}).get('mask_combine', 'original')
    if combine not in MASK_COMBINES:
        raise ValueError(f'model.test_cfg.mask_combine must be one of {MASK_COMBINES}, got {combine!r}')
    return combine


def per_class_logits(logits: torch.Tensor, classes: ClassEmbeddings) -> torch.Tensor:
    """(B, Q, names + 1) logits per name plus a last no-object/void column → (B, Q, classes + 1): a class with
    synonyms scores its best name."""
    if len(classes.vocabulary.names) == classes.num_classes:
        return logits
    per_class = max_over_synonyms(logits[..., :-1].transpose(1, 2), classes.name_to_class.to(logits.device),
                                  classes.num_classes).transpose(1, 2)
    return torch.cat([per_class, logits[..., -1:]], dim=-1)


def semantic_scores(mask_logits: torch.Tensor, class_logits: torch.Tensor) -> torch.Tensor:
    """Σ_q softmax(class logits)[c] · sigmoid(mask logit) per class (B, classes, H, W): the no-object column
    takes part in the softmax, then is dropped."""
    probs = class_logits.softmax(dim=-1)[..., :-1]
    return torch.einsum('bqc,bqhw->bchw', probs, mask_logits.sigmoid())


def mask_pool(features: torch.Tensor, mask_logits: torch.Tensor) -> torch.Tensor:
    """Mean of ``features`` (B, C, H, W) inside each binarised mask (logit > 0) of ``mask_logits`` (B, Q, h, w),
    resized bilinearly to the features' grid first → (B, Q, C). The masks carry no gradient; an empty mask pools
    to zeros (ODISE's and FC-CLIP's ``MaskPooling``)."""
    if mask_logits.shape[-2:] != features.shape[-2:]:
        mask_logits = F.interpolate(mask_logits, size=features.shape[-2:], mode='bilinear', align_corners=False)
    with torch.no_grad():
        masks = (mask_logits.detach() > 0).to(mask_logits.dtype)
        masks = masks / (masks.sum(dim=(-1, -2), keepdim=True) + 1e-8)
    return torch.einsum('bchw,bqhw->bqc', features, masks)
