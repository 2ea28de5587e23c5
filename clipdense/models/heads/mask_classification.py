"""What mask-classification heads (SAN, FC-CLIP) share: class logits per class from logits per name, the
semantic combination of masks and classes, the panoptic and instance outputs, mask pooling, and how the segmentor
combines them at test time."""
import torch
import torch.nn.functional as F
from mmdet.evaluation.functional import INSTANCE_OFFSET
from mmdet.structures.mask import mask2bbox
from mmengine.structures import InstanceData

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


def panoptic_fusion(class_logits: torch.Tensor, mask_logits: torch.Tensor, is_thing: torch.Tensor,
                    object_mask_threshold: float = 0.0, overlap_threshold: float = 0.8) -> torch.Tensor:
    """Mask2Former's panoptic inference (FC-CLIP's ``panoptic_inference``) for one image → (H, W) int32 segment
    map in mmdet's encoding: ``class`` for a stuff segment, ``class + k·INSTANCE_OFFSET`` for the k-th (from 1)
    thing segment, ``classes`` (the void column's index) where no segment is kept.

    Queries whose best class (softmax over ``class_logits`` (Q, classes + 1), void included) is not void and
    scores above ``object_mask_threshold`` compete per pixel by score · sigmoid(mask logit) (``mask_logits``
    (Q, H, W)); a query keeps the pixels it wins where its own mask is ≥ 0.5, unless they are less than
    ``overlap_threshold`` of its whole ≥ 0.5 mask; stuff segments of one class merge. ``is_thing`` (classes,)
    marks thing classes wherever they are in the vocabulary (mmdet's ``MaskFormerFusionHead`` takes the first
    ``num_things`` classes as things, which ADE's and Cityscapes' class orders are not)."""
    num_classes = class_logits.shape[-1] - 1
    scores, labels = class_logits.softmax(dim=-1).max(dim=-1)
    keep = (labels != num_classes) & (scores > object_mask_threshold)
    scores, labels, masks = scores[keep], labels[keep], mask_logits[keep].sigmoid()
    segments = torch.full(mask_logits.shape[-2:], num_classes, dtype=torch.int32, device=mask_logits.device)
    if not len(masks):
        return segments
    winner = (scores.view(-1, 1, 1) * masks).argmax(dim=0)
    instance = 0
    for query, label in enumerate(labels.tolist()):
        own = masks[query] >= 0.5
        won = winner == query
        segment = won & own
        own_area, won_area = int(own.sum()), int(won.sum())
        if not (own_area and won_area and segment.any()) or won_area / own_area < overlap_threshold:
            continue
        if is_thing[label]:
            instance += 1
            segments[segment] = label + instance * INSTANCE_OFFSET
        else:
            segments[segment] = label  # every stuff segment of a class is one segment
    return segments


def instance_inference(class_logits: torch.Tensor, mask_logits: torch.Tensor, is_thing: torch.Tensor,
                       max_per_image: int = 100) -> InstanceData:
    """Mask2Former's instance inference as FC-CLIP runs it (``instance_inference`` with panoptic metadata) for one
    image: the ``max_per_image`` best (query, class) pairs of softmax(``class_logits``) (Q, classes + 1) without
    the void column, those of thing classes kept (``is_thing`` (classes,)); each instance's mask is its query's
    logit > 0 (``mask_logits`` (Q, H, W)) and its score the class probability × the mean sigmoid inside that
    mask. Instances come best score first. ``bboxes`` are the masks' boxes (the reference leaves them zero)."""
    num_classes = class_logits.shape[-1] - 1
    probs = class_logits.softmax(dim=-1)[:, :-1].flatten()
    class_scores, pairs = probs.topk(min(max_per_image, len(probs)))
    queries, labels = pairs // num_classes, pairs % num_classes
    things = is_thing.to(labels.device)[labels]
    class_scores, queries, labels = class_scores[things], queries[things], labels[things]
    logits = mask_logits[queries]
    masks = logits > 0
    mask_scores = (logits.sigmoid() * masks).flatten(1).sum(dim=1) / (masks.flatten(1).sum(dim=1) + 1e-6)
    scores, order = (class_scores * mask_scores).sort(descending=True)
    masks = masks[order]
    return InstanceData(masks=masks, bboxes=mask2bbox(masks).to(logits.dtype), scores=scores, labels=labels[order])


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
