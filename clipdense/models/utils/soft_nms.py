"""detectron2's soft-NMS as RegionCLIP's evaluations run it (``MODEL.ROI_HEADS.SOFT_NMS_ENABLED True``), in mmcv's
NMS-op form so that mmdet's ``multiclass_nms`` (score threshold, background dropped, top-k) runs it.

What differs from mmcv's ``soft_nms`` (same gaussian decay ``exp(-iou² / sigma)``, no +1 in the IoU):

* pruning drops a score ``<= min_score`` (detectron2 keeps ``> prune``; mmcv drops only ``< min_score``);
* the linear decay applies where ``iou > iou_threshold`` (mmcv: ``>=``);
* ties go to the lowest original index (mmcv's in-place swaps reorder the candidates);
* boxes that do not intersect (zero-area boxes included) have IoU 0 (mmcv divides 0 by 0 for two zero-area boxes);
* every class runs in one pass, in the order of the decayed scores (mmcv's ``batched_nms`` splits 10000 or more
  candidates per class and re-sorts the merged scores).
"""
import math

import torch

from clipdense.utils import UserError

DETECTRON2_SOFT_NMS = 'detectron2_soft_nms'
SOFT_NMS_METHODS = ('gaussian', 'linear')


class SoftNMSConfigError(UserError, ValueError):
    """An unknown soft-NMS method or a sigma that is not positive."""


def _iou_with(box: torch.Tensor, boxes: torch.Tensor) -> torch.Tensor:
    """IoU of ``box`` (4,) with ``boxes`` (N, 4), in detectron2's ``pairwise_iou`` arithmetic: 0 where the boxes do
    not intersect."""
    width_height = (torch.min(box[2:], boxes[:, 2:]) - torch.max(box[:2], boxes[:, :2])).clamp(min=0)
    intersection = width_height.prod(dim=1)
    box_area = (box[2] - box[0]) * (box[3] - box[1])
    areas = (boxes[:, 2] - boxes[:, 0]) * (boxes[:, 3] - boxes[:, 1])
    return torch.where(intersection > 0, intersection / (box_area + areas - intersection),
                       intersection.new_zeros(()))


def check_soft_nms_args(method: str, sigma: float) -> None:
    if method not in SOFT_NMS_METHODS:
        raise SoftNMSConfigError(f'soft-NMS method={method!r} is unknown: use "gaussian" or "linear" (RegionCLIP '
                                 'evaluates with "gaussian")')
    if method == 'gaussian' and not sigma > 0:
        raise SoftNMSConfigError(f'soft-NMS sigma={sigma} must be positive (RegionCLIP: 0.5)')


def detectron2_soft_nms(boxes: torch.Tensor, scores: torch.Tensor, iou_threshold: float = 0.5, sigma: float = 0.5,
                        min_score: float = 0.001, method: str = 'gaussian'):
    """Soft-NMS of ``boxes`` (N, 4, x1y1x2y2) with ``scores`` (N,), detectron2's ``soft_nms``.

    Repeatedly: take the highest remaining score (ties: the lowest index), output it, decay every remaining score
    by ``exp(-iou² / sigma)`` (``'gaussian'``) or by ``1 - iou`` where ``iou > iou_threshold`` (``'linear'``), and
    drop the taken box and every score ``<= min_score``.

    Returns ``(dets, keep)`` as mmcv's NMS ops: ``dets`` (K, 5) the kept boxes with their decayed scores and
    ``keep`` (K,) their indices, in the order taken (decreasing decayed score).
    """
    check_soft_nms_args(method, sigma)
    remaining = torch.arange(len(scores), device=scores.device)
    current = scores.clone()
    taken, taken_scores = [], []
    while remaining.numel():
        top = int(torch.argmax(current))  # argmax returns the first maximum: ties go to the lowest index
        taken.append(remaining[top])
        taken_scores.append(current[top])
        iou = _iou_with(boxes[remaining[top]], boxes[remaining])
        if method == 'gaussian':
            current = current * torch.exp(-iou.pow(2) / sigma)
        else:
            current = current * torch.where(iou > iou_threshold, 1 - iou, torch.ones_like(iou))
        survivors = current > min_score
        survivors[top] = False
        remaining, current = remaining[survivors], current[survivors]
    if not taken:
        return boxes.new_zeros(0, 5), remaining
    keep = torch.stack(taken)
    return torch.cat([boxes[keep], torch.stack(taken_scores)[:, None]], dim=1), keep


def resolve_nms_cfg(nms_cfg: dict) -> dict:
    """The ``nms_cfg`` that mmdet's ``multiclass_nms`` (mmcv's ``batched_nms``) runs: ``type='detectron2_soft_nms'``
    becomes ``detectron2_soft_nms``, run over every class at once (detectron2's ``batched_soft_nms`` offsets the
    boxes per class as ``batched_nms`` does, and never splits); other types are mmcv's and pass unchanged."""
    if nms_cfg.get('type') != DETECTRON2_SOFT_NMS:
        return nms_cfg
    options = {key: value for key, value in nms_cfg.items() if key != 'type'}
    unknown = sorted(set(options) - {'iou_threshold', 'sigma', 'min_score', 'method'})
    if unknown:
        raise SoftNMSConfigError(f'nms={DETECTRON2_SOFT_NMS!r} does not take {unknown}: its options are mmcv '
                                 "soft_nms's iou_threshold, sigma, min_score and method")
    check_soft_nms_args(options.get('method', 'gaussian'), options.get('sigma', 0.5))
    return dict(options, type=detectron2_soft_nms, split_thr=math.inf)
