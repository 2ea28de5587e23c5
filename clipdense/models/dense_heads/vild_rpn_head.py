"""ViLD's region proposal network: tensorflow/tpu's ``RpnHead`` and its losses (``modeling/architecture/heads.py``,
``modeling/losses.py``) on mmdet's ``RPNHead``."""
from typing import List, Optional, Tuple

import torch
import torch.nn.functional as F
from mmcv.cnn import build_norm_layer
from mmdet.models.dense_heads import RPNHead
from torch import nn

from clipdense.registry import MODELS


@MODELS.register_module()
class ViLDRPNHead(RPNHead):
    """mmdet's ``RPNHead`` with the reference's two departures:

    - its 3x3 convolutions are shared across the pyramid levels, but each level has batch norms of its own
      (``rpn-l{L}-bn``), each followed by a ReLU;
    - its box loss is averaged per level over that level's non-zero target coordinates and summed over the levels
      (TF's ``SUM_BY_NONZERO_WEIGHTS``), and its score loss is normalised by the images x the anchors sampled per
      image, the same for every level. With ``loss_bbox=dict(type='mmdet.SmoothL1Loss', beta=1 / 9,
      loss_weight=1 / 9)`` the box loss is the reference's Huber loss with delta 1/9.

    ``norm_cfg=None`` drops the batch norms (the reference's ``use_batch_norm: false``).
    """

    def __init__(self,
                 in_channels: int,
                 num_levels: int = 5,
                 norm_cfg: Optional[dict] = dict(type='BN', eps=1e-4, momentum=0.003),
                 **kwargs):
        # mmdet's constructor builds the layers, which need these.
        self.num_levels = num_levels
        self.norm_cfg = norm_cfg
        super().__init__(in_channels, **kwargs)

    def _init_layers(self) -> None:
        self.rpn_convs = nn.ModuleList(
            nn.Conv2d(self.in_channels if index == 0 else self.feat_channels, self.feat_channels, 3, padding=1)
            for index in range(self.num_convs))
        self.level_norms = nn.ModuleList(
            nn.ModuleList(self._norm() for _ in range(self.num_convs)) for _ in range(self.num_levels))
        self.rpn_cls = nn.Conv2d(self.feat_channels, self.num_base_priors * self.cls_out_channels, 1)
        self.rpn_reg = nn.Conv2d(self.feat_channels, self.num_base_priors * self.bbox_coder.encode_size, 1)

    def _norm(self) -> nn.Module:
        return build_norm_layer(self.norm_cfg, self.feat_channels)[1] if self.norm_cfg else nn.Identity()

    def forward(self, x: Tuple[torch.Tensor, ...]) -> Tuple[List[torch.Tensor], List[torch.Tensor]]:
        if len(x) != self.num_levels:
            raise ValueError(f'ViLDRPNHead has batch norms for {self.num_levels} levels but got {len(x)} feature '
                             'maps: set rpn_head.num_levels to the neck\'s num_outs')
        cls_scores, bbox_preds = [], []
        for features, norms in zip(x, self.level_norms):
            for conv, norm in zip(self.rpn_convs, norms):
                features = F.relu(norm(conv(features)))
            cls_scores.append(self.rpn_cls(features))
            bbox_preds.append(self.rpn_reg(features))
        return cls_scores, bbox_preds

    def loss_by_feat_single(self, cls_score: torch.Tensor, bbox_pred: torch.Tensor, anchors: torch.Tensor,
                            labels: torch.Tensor, label_weights: torch.Tensor, bbox_targets: torch.Tensor,
                            bbox_weights: torch.Tensor, avg_factor: int) -> Tuple[torch.Tensor, torch.Tensor]:
        # The reference divides every level's score loss by the images x rpn_batch_size_per_im.
        score_normaliser = cls_score.size(0) * self.train_cfg['sampler']['num']
        loss_cls = self.loss_cls(cls_score.permute(0, 2, 3, 1).reshape(-1, self.cls_out_channels), labels.reshape(-1),
                                 label_weights.reshape(-1), avg_factor=score_normaliser)
        bbox_targets = bbox_targets.reshape(-1, self.bbox_coder.encode_size)
        # A target coordinate of exactly 0 carries no weight in the reference (its mask is targets != 0).
        bbox_weights = bbox_weights.reshape(-1, self.bbox_coder.encode_size) * (bbox_targets != 0)
        bbox_pred = bbox_pred.permute(0, 2, 3, 1).reshape(-1, self.bbox_coder.encode_size)
        loss_bbox = self.loss_bbox(bbox_pred, bbox_targets, bbox_weights, avg_factor=bbox_weights.sum().clamp(min=1))
        return loss_cls, loss_bbox
