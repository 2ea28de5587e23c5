"""tensorflow/tpu's box coder (``utils/box_utils.py``), which counts box sizes inclusively (``x2 - x1 + 1``), on
mmdet's ``DeltaXYWHBBoxCoder``."""
import math
from typing import Optional, Sequence, Union

import torch
from mmdet.models.task_modules.coders import DeltaXYWHBBoxCoder
from mmdet.structures.bbox import BaseBoxes, HorizontalBoxes, get_box_tensor

from clipdense.registry import TASK_UTILS


@TASK_UTILS.register_module()
class TFDeltaXYWHBBoxCoder(DeltaXYWHBBoxCoder):
    """Deltas (dx, dy, dw, dh) / ``target_stds`` as the reference computes them:

    - ``decode`` (``box_utils.decode_boxes``): a box of ``x1..x2`` is ``x2 - x1 + 1`` wide, centred at
      ``x1 + w / 2``; the decoded box spans ``[xc - w / 2, xc - w / 2 + w - 1]``; ``dw``/``dh`` are capped above at
      ``log(1 / wh_ratio_clip)`` (not below); boxes are clipped to ``[0, W - 1] x [0, H - 1]``;
    - ``encode`` the same way (``box_utils.encode_boxes``, the Fast R-CNN targets) with ``encode_plus_one=True``,
      or as mmdet's coder (sizes ``x2 - x1``, object_detection's ``FasterRcnnBoxCoder``: the RPN's anchor targets)
      with ``encode_plus_one=False``.
    """

    def __init__(self, encode_plus_one: bool = True, **kwargs):
        super().__init__(**kwargs)
        if any(self.means):
            raise ValueError(f'TFDeltaXYWHBBoxCoder has no target means (got {self.means}): the reference has none')
        self.encode_plus_one = encode_plus_one

    def encode(self, bboxes: Union[torch.Tensor, BaseBoxes], gt_bboxes: Union[torch.Tensor, BaseBoxes]) -> torch.Tensor:
        if not self.encode_plus_one:
            return super().encode(bboxes, gt_bboxes)
        anchors, targets = get_box_tensor(bboxes), get_box_tensor(gt_bboxes)
        anchor_size = anchors[..., 2:] - anchors[..., :2] + 1
        anchor_centre = anchors[..., :2] + 0.5 * anchor_size
        target_size = targets[..., 2:] - targets[..., :2] + 1
        target_centre = targets[..., :2] + 0.5 * target_size
        deltas = torch.cat([(target_centre - anchor_centre) / anchor_size, torch.log(target_size / anchor_size)], -1)
        return deltas / deltas.new_tensor(self.stds)

    def decode(self, bboxes: Union[torch.Tensor, BaseBoxes], pred_bboxes: torch.Tensor,
               max_shape: Optional[Sequence[int]] = None,
               wh_ratio_clip: float = 16 / 1000) -> Union[torch.Tensor, BaseBoxes]:
        anchors = get_box_tensor(bboxes)
        deltas = pred_bboxes.reshape(*pred_bboxes.shape[:-1], -1, 4) * pred_bboxes.new_tensor(self.stds)
        anchor_size = (anchors[..., 2:] - anchors[..., :2] + 1).unsqueeze(-2)
        anchor_centre = anchors[..., :2].unsqueeze(-2) + 0.5 * anchor_size
        centre = deltas[..., :2] * anchor_size + anchor_centre
        size = torch.exp(deltas[..., 2:].clamp(max=math.log(1 / wh_ratio_clip))) * anchor_size
        top_left = centre - 0.5 * size
        boxes = torch.cat([top_left, top_left + size - 1], -1)
        if self.clip_border and max_shape is not None:
            height, width = max_shape[:2]
            boxes = torch.min(boxes.clamp(min=0), boxes.new_tensor([width - 1, height - 1] * 2))
        boxes = boxes.reshape(pred_bboxes.shape)
        if self.use_box_type:
            if boxes.size(-1) != 4:
                raise ValueError('TFDeltaXYWHBBoxCoder: class-specific deltas cannot be wrapped as a box type')
            return HorizontalBoxes(boxes)
        return boxes
