"""ViLD's box head: mmdet's shared 4-conv 2-FC head with normalised FCs, classifying in CLIP's space."""
from typing import Optional, Tuple

import torch
from mmcv.cnn import build_norm_layer
from mmdet.models.layers import multiclass_nms
from mmdet.models.roi_heads.bbox_heads import ConvFCBBoxHead
from mmengine.config import ConfigDict
from mmengine.structures import InstanceData
from torch import nn

from clipdense.models.clip import ClassEmbeddings
from clipdense.registry import MODELS


@MODELS.register_module()
class ViLDBBoxHead(ConvFCBBoxHead):
    """ViLD's Fast R-CNN head (tensorflow/tpu ``projects/vild/modeling/vild_head.py``): ``num_shared_convs`` 3×3
    convolutions and ``num_shared_fcs`` FCs, each followed by ``fc_norm_cfg`` and ReLU (mmdet's FCs have no norm),
    then ``fc_cls``, a ``RegionTextClassifier`` (projection to CLIP's space, L2 normalisation, cosine with the
    frozen text embeddings and a learned background × 100), and class-agnostic box regression.

    ``forward`` returns mmdet's ``(cls_score, bbox_pred)``; ``region_embeddings`` gives the normalised embeddings
    the distillation compares with CLIP's. With ``scores_given`` set (by the ensemble's RoI head) the
    ``cls_score`` handed to prediction holds class probabilities, background last, which are used as they are.
    """

    def __init__(self, fc_norm_cfg: dict = dict(type='BN1d'), **kwargs):
        super().__init__(**kwargs)
        self.scores_given = False
        self.shared_fc_norms = nn.ModuleList(
            build_norm_layer(fc_norm_cfg, self.fc_out_channels)[1] for _ in range(self.num_shared_fcs))

    def set_class_embeddings(self, classes: ClassEmbeddings, training: bool) -> None:
        self.fc_cls.set_class_embeddings(classes, training)
        if not training:
            self.num_classes = classes.num_classes  # mmdet's background label and score columns follow it

    def trunk(self, roi_features: torch.Tensor) -> torch.Tensor:
        """The shared convolutions and normalised FCs: (N, C, 7, 7) → (N, fc_out_channels)."""
        x = roi_features
        for conv in self.shared_convs:
            x = conv(x)
        x = x.flatten(1)
        for fc, norm in zip(self.shared_fcs, self.shared_fc_norms):
            x = self.relu(norm(fc(x)))
        return x

    def region_embeddings(self, roi_features: torch.Tensor) -> torch.Tensor:
        return self.fc_cls.embed(self.trunk(roi_features))

    def forward(self, roi_features: torch.Tensor) -> Tuple[torch.Tensor, torch.Tensor]:
        x = self.trunk(roi_features)
        return self.fc_cls(x), (self.fc_reg(x) if self.with_reg else None)

    def forward_with_embeddings(self, roi_features: torch.Tensor, num_classified: int):
        """One pass over RoIs of which the first ``num_classified`` are classified and regressed and all are
        embedded (ViLD runs the sampled and the distillation RoIs through the head together, so its batch
        normalisation sees both): ``(cls_score, bbox_pred, embeddings)``."""
        x = self.trunk(roi_features)
        embeddings = self.fc_cls.embed(x)
        cls_score = self.fc_cls.classify(embeddings[:num_classified])
        bbox_pred = self.fc_reg(x[:num_classified]) if self.with_reg else None
        return cls_score, bbox_pred, embeddings

    def loss(self, cls_score: torch.Tensor, bbox_pred: Optional[torch.Tensor], rois: torch.Tensor,
             labels: torch.Tensor, label_weights: torch.Tensor, bbox_targets: torch.Tensor,
             bbox_weights: torch.Tensor, reduction_override: Optional[str] = None) -> dict:
        """mmdet's losses, the box loss averaged as the reference's ``FastrcnnBoxLoss`` does: over the positive
        RoIs' coordinates (TF's ``SUM_BY_NONZERO_WEIGHTS``) where mmdet averages over every sampled RoI."""
        losses = super().loss(cls_score, bbox_pred, rois, labels, label_weights, bbox_targets, bbox_weights,
                              reduction_override)
        if 'loss_bbox' in losses and reduction_override in (None, 'mean'):
            num_coordinates = bbox_weights.gt(0).sum().clamp(min=1)
            losses['loss_bbox'] = losses['loss_bbox'] * bbox_targets.size(0) / num_coordinates
        return losses

    def _predict_by_feat_single(self, roi: torch.Tensor, cls_score: torch.Tensor, bbox_pred: torch.Tensor,
                                img_meta: dict, rescale: bool = False,
                                rcnn_test_cfg: Optional[ConfigDict] = None) -> InstanceData:
        """mmdet's, but given scores skip its softmax: the ensemble's per-class geometric means can sum past 1,
        and a softmax would rescale them (the reference ranks and thresholds them as they are)."""
        if not self.scores_given or roi.shape[0] == 0:
            return super()._predict_by_feat_single(roi, cls_score, bbox_pred, img_meta, rescale, rcnn_test_cfg)
        results = super()._predict_by_feat_single(roi, cls_score, bbox_pred, img_meta, rescale, None)
        results.scores = cls_score
        if rcnn_test_cfg is None:
            return results
        detections, labels = multiclass_nms(results.bboxes, cls_score, rcnn_test_cfg.score_thr, rcnn_test_cfg.nms,
                                            rcnn_test_cfg.max_per_img, box_dim=4)
        return InstanceData(bboxes=detections[:, :-1], scores=detections[:, -1], labels=labels)
