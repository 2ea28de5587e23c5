"""A frozen proposal network beside a detector: RegionCLIP's "offline" backbone + RPN."""
import os
import warnings
from typing import List, Optional, Sequence

import torch
from mmengine.model import BaseModule
from mmengine.structures import InstanceData
from torchvision.ops import batched_nms

from clipdense.engine.checkpoint import load_local_checkpoint
from clipdense.models.clip.loading import unwrap_state_dict
from clipdense.registry import MODELS
from clipdense.utils import UserError

CHANNEL_ORDERS = ('RGB', 'BGR')


class OfflineRPNError(UserError, ValueError):
    """An offline-RPN option or checkpoint that cannot work."""


def rpn_head_named(state_dict: dict) -> dict:
    """A state dict with its RPN head under ``rpn_head.``: mmdet's ``RPN`` detector (what ``tools/train.py`` trains)
    keeps the head as ``bbox_head`` and saves ``bbox_head.*``; mmdet reads ``rpn_head.*`` into it, this is the way
    back. Checkpoints that already name ``rpn_head.*`` are returned as they are."""
    if any(key.startswith('rpn_head.') for key in state_dict):
        return state_dict
    return {('rpn_head.' + key[len('bbox_head.'):] if key.startswith('bbox_head.') else key): value
            for key, value in state_dict.items()}


@MODELS.register_module()
class OfflineRPN(BaseModule):
    """RegionCLIP's localisation branch (``CLIPFastRCNN.offline_backbone`` + ``offline_proposal_generator``,
    ``meta_arch/clip_rcnn.py``): a detector's own backbone and RPN, trained elsewhere, frozen, always in eval mode,
    run without gradients; its proposals feed the recognition branch in training and at test time alike.

    The image is re-normalised for it (``mean``/``std`` on 0–255 pixels in ``channel_order``, detectron2's
    ``offline_preprocess_image``) and zero-padded at the right and bottom to the batch's largest image, rounded up to
    ``size_divisor`` (detectron2's ``size_divisibility``: 0 for a C4 ResNet, 32 for FPN). Proposals follow detectron2's
    ``RPN`` at test settings (``find_top_rpn_proposals``): anchors decoded by ``rpn_head.bbox_coder``, per level the
    ``nms_pre`` highest objectness logits, non-finite rows dropped, boxes clipped to the unpadded image, boxes with a
    side ``<= min_bbox_size`` dropped, NMS within each level (torchvision's ``batched_nms``), the ``max_per_img``
    highest kept. The RPN's anchors must come in detectron2's order (``scale_major=False``: sizes outer, ratios
    inner; ``center_offset=0``) and its decoder must clamp only large ``dw, dh`` as detectron2 does.

    Each result carries ``bboxes``, ``labels`` (zeros), ``scores`` (sigmoid objectness, mmdet's convention) and
    ``logits``: the raw objectness logits the reference passes on, which ``rpn_score_fusion='reference'`` multiplies.

    Args:
        backbone, rpn_head: mmdet configs (e.g. ``mmdet.ResNet`` caffe-style with frozen BN, ``mmdet.RPNHead``).
        neck: optional (``mmdet.FPN`` for an FPN RPN).
        mean, std: the RPN's normalisation, on 0–255 pixels in ``channel_order``.
        test_cfg: ``nms_pre`` (per level), ``max_per_img``, ``nms=dict(iou_threshold=...)``, ``min_bbox_size``.
        checkpoint: a checkpoint of this module (``tools/model_converters/regionclip_rpn2clipdense.py``) or of an
            mmdet ``RPN`` detector with the same backbone and head (``tools/train.py``), loaded strictly at
            construction and by ``init_weights``; None keeps random weights (tests only: the proposals
            are then noise).
    """

    def __init__(self, backbone: dict, rpn_head: dict, test_cfg: dict, mean: Sequence[float],
                 std: Sequence[float], channel_order: str = 'BGR', size_divisor: int = 0,
                 neck: Optional[dict] = None, checkpoint: Optional[str] = None):
        super().__init__()
        if channel_order not in CHANNEL_ORDERS:
            raise OfflineRPNError(f'channel_order={channel_order!r} is unknown: use "RGB" or "BGR"')
        self.backbone = MODELS.build(backbone)
        self.neck = MODELS.build(neck) if neck is not None else None
        self.rpn_head = MODELS.build(rpn_head)
        self.test_cfg = test_cfg
        self.channel_order = channel_order
        self.size_divisor = size_divisor
        self.checkpoint = checkpoint
        self.register_buffer('mean', torch.tensor(mean, dtype=torch.float32).view(-1, 1, 1), persistent=False)
        self.register_buffer('std', torch.tensor(std, dtype=torch.float32).view(-1, 1, 1), persistent=False)
        self.requires_grad_(False)
        self.train(False)
        self.load_checkpoint()

    def train(self, mode: bool = True) -> 'OfflineRPN':
        """Always eval: batch norms keep their statistics and the RPN its test settings, as the reference forces."""
        return super().train(False)

    def init_weights(self) -> None:
        """mmengine's initialisation, then the checkpoint again (the initialisers would overwrite it)."""
        super().init_weights()
        self.load_checkpoint()

    def load_checkpoint(self) -> None:
        """Load ``checkpoint`` strictly (at construction too: ``tools/test.py`` does not call ``init_weights``)."""
        if self.checkpoint is None:
            warnings.warn('OfflineRPN has no checkpoint: its proposals come from random weights')
            return
        if not os.path.isfile(self.checkpoint):
            raise OfflineRPNError(
                f'offline RPN checkpoint not found: {self.checkpoint}; convert the released RPN (e.g. rpn_coco_48.pth) '
                f'with python tools/model_converters/regionclip_rpn2clipdense.py SRC {self.checkpoint}, or train one '
                '(tools/train.py with an RPN config such as configs/regionclip/rpn_r18-tiny-c4_synthetic-world.py)')
        state_dict = rpn_head_named(unwrap_state_dict(load_local_checkpoint(self.checkpoint, map_location='cpu')) or {})
        own = self.state_dict()
        missing = [key for key in own if key not in state_dict]
        unexpected = [key for key in state_dict if key not in own]
        misshapen = [key for key in own if key in state_dict and state_dict[key].shape != own[key].shape]
        for problem, keys in (('lacks', missing), ('has unexpected', unexpected), ('has misshapen', misshapen)):
            if keys:
                raise OfflineRPNError(
                    f'{self.checkpoint} {problem} offline-RPN tensors ({len(keys)}, e.g. {keys[0]!r}): give the '
                    'released RPN converted by tools/model_converters/regionclip_rpn2clipdense.py, or an RPN trained '
                    'with the same backbone and rpn_head as offline_rpn')
        self.load_state_dict(state_dict, strict=True)

    def normalise(self, pixels: Sequence[torch.Tensor], pixel_order: str) -> torch.Tensor:
        """Unpadded 0–255 images (C, H, W) in ``pixel_order`` → the RPN's normalised, zero-padded batch."""
        flip = pixel_order != self.channel_order
        images = [((image.flip(0) if flip else image) - self.mean) / self.std for image in pixels]
        height = max(image.shape[1] for image in images)
        width = max(image.shape[2] for image in images)
        if self.size_divisor > 1:
            height = -(-height // self.size_divisor) * self.size_divisor
            width = -(-width // self.size_divisor) * self.size_divisor
        batch = images[0].new_zeros(len(images), images[0].shape[0], height, width)
        for index, image in enumerate(images):
            batch[index, :, :image.shape[1], :image.shape[2]] = image
        return batch

    @torch.no_grad()
    def forward(self, pixels: Sequence[torch.Tensor], pixel_order: str) -> List[InstanceData]:
        """Proposals for unpadded 0–255 images (C, H, W) in ``pixel_order``; boxes in those images' pixels."""
        features = self.backbone(self.normalise(pixels, pixel_order))
        if self.neck is not None:
            features = self.neck(features)
        logits, deltas = self.rpn_head(features)
        # fp32 from here (a bf16/fp16 precision lowers the convolutions only): decoding and NMS need it
        logits, deltas = [level.float() for level in logits], [level.float() for level in deltas]
        anchors = self.rpn_head.prior_generator.grid_priors([level.shape[-2:] for level in logits],
                                                            device=logits[0].device)
        return [self.select(image_logits, image_deltas, anchors, image.shape[1:])
                for image_logits, image_deltas, image in zip(
                    zip(*[level.permute(0, 2, 3, 1).flatten(1) for level in logits]),
                    zip(*[level.permute(0, 2, 3, 1).reshape(level.shape[0], -1, 4) for level in deltas]),
                    pixels)]

    def select(self, logits: Sequence[torch.Tensor], deltas: Sequence[torch.Tensor],
               anchors: Sequence[torch.Tensor], image_size) -> InstanceData:
        """One image: per level the top ``nms_pre`` logits (each level's rows are location-major, anchors inner,
        as its anchors are), then clip, drop empty boxes, NMS per level, top ``max_per_img``."""
        boxes, scores, levels = [], [], []
        for level, (level_logits, level_deltas, level_anchors) in enumerate(zip(logits, deltas, anchors)):
            level_logits, order = level_logits.sort(descending=True)
            top = min(len(order), self.test_cfg['nms_pre'])
            order = order[:top]
            boxes.append(self.rpn_head.bbox_coder.decode(level_anchors[order], level_deltas[order]))
            scores.append(level_logits[:top])
            levels.append(torch.full((top,), level, dtype=torch.long, device=order.device))
        boxes, scores, levels = torch.cat(boxes), torch.cat(scores), torch.cat(levels)
        valid = torch.isfinite(boxes).all(dim=1) & torch.isfinite(scores)
        boxes, scores, levels = boxes[valid], scores[valid], levels[valid]
        height, width = image_size
        boxes[:, 0::2] = boxes[:, 0::2].clamp(min=0, max=width)
        boxes[:, 1::2] = boxes[:, 1::2].clamp(min=0, max=height)
        min_size = self.test_cfg.get('min_bbox_size', 0)
        nonempty = (boxes[:, 2] - boxes[:, 0] > min_size) & (boxes[:, 3] - boxes[:, 1] > min_size)
        boxes, scores, levels = boxes[nonempty], scores[nonempty], levels[nonempty]
        keep = batched_nms(boxes, scores, levels, self.test_cfg['nms']['iou_threshold'])[:self.test_cfg['max_per_img']]
        return InstanceData(bboxes=boxes[keep], scores=scores[keep].sigmoid(), logits=scores[keep],
                            labels=levels.new_zeros(len(keep)))
