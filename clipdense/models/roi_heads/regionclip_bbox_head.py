"""RegionCLIP's box predictor: region embeddings (CLIP's attention pool) against text, class-agnostic deltas."""
from typing import Optional, Tuple

import torch
import torch.nn.functional as F
from mmdet.models.layers import multiclass_nms
from mmdet.models.roi_heads.bbox_heads import BBoxHead
from mmdet.structures.bbox import scale_boxes
from mmengine.structures import InstanceData

from clipdense.models.clip import ClassEmbeddings
from clipdense.models.utils.soft_nms import DETECTRON2_SOFT_NMS, resolve_nms_cfg
from clipdense.registry import MODELS
from clipdense.utils import UserError

# How RPN objectness joins the class probabilities at test time (the reference's MULTIPLY_RPN_SCORE).
RPN_SCORE_FUSIONS = (None, 'sigmoid', 'reference')


class RPNScoreFusionError(UserError, ValueError):
    """An unknown ``rpn_score_fusion``."""


def fuse_rpn_scores(probabilities: torch.Tensor, rpn_scores: torch.Tensor, fusion: Optional[str],
                    rpn_logits: Optional[torch.Tensor] = None) -> torch.Tensor:
    """``sqrt(p · objectness)`` for every column (background included, as the reference multiplies the whole row).

    ``'reference'``: objectness is the RPN's raw logit (RegionCLIP's ``proposal_utils.py`` keeps logits): ``rpn_logits``
    where the proposals carry them (``OfflineRPN``), else recovered from mmdet's sigmoid score (saturating near 17);
    negative logits give NaN rows, dropped later as the reference's ``isfinite`` mask does, and scores can exceed 1.
    ``'sigmoid'``: objectness is the sigmoid probability (scores stay in [0, 1]).
    """
    if fusion is None:
        return probabilities
    if fusion not in RPN_SCORE_FUSIONS:
        raise RPNScoreFusionError(f'rpn_score_fusion={fusion!r} is unknown: use None, "sigmoid" or "reference"')
    objectness = rpn_scores.double()
    if fusion == 'reference':
        objectness = rpn_logits.double() if rpn_logits is not None else torch.logit(objectness)
    return (probabilities.double() * objectness[:, None]).pow(0.5).to(probabilities.dtype)


@MODELS.register_module()
class RegionCLIPBBoxHead(BBoxHead):
    """RegionCLIP's ``FastRCNNOutputLayers`` (``roi_heads/fast_rcnn.py``) on mmdet's ``BBoxHead``.

    Input: un-normalised region embeddings (N, ``in_channels`` = CLIP's embed dim). ``fc_cls`` is a
    ``RegionTextClassifier`` without projection: L2-normalised embedding · L2-normalised text rows × 100 (the
    reference's ``/ CLSS_TEMP`` 0.01) and a background logit fixed at 0 (the frozen zero ``cls_bg_score``), last.
    ``fc_reg`` is ``Linear(in_channels, 4)`` on the un-normalised embedding (class-agnostic; N(0, 0.001) init).

    The training loop classifies against the training vocabulary only (no columns for other classes): mmdet's
    background label is the number of training classes while targets and losses are computed.
    """

    def __init__(self, in_channels: int, temperature: float = 100.0, cls_predictor_cfg: Optional[dict] = None,
                 reg_class_agnostic: bool = True, **kwargs):
        cls_predictor_cfg = dict(type='RegionTextClassifier', embed_dim=in_channels, projection=False,
                                 temperature=temperature, background='zero', **(cls_predictor_cfg or {}))
        super().__init__(in_channels=in_channels, roi_feat_size=1, with_avg_pool=False,
                         cls_predictor_cfg=cls_predictor_cfg, reg_class_agnostic=reg_class_agnostic, **kwargs)

    def set_class_embeddings(self, classes: ClassEmbeddings, training: bool) -> None:
        self.fc_cls.set_class_embeddings(classes, training)
        if not training:
            self.num_classes = classes.num_classes  # mmdet's background label and score columns follow it

    def forward(self, embeddings: torch.Tensor) -> Tuple[torch.Tensor, torch.Tensor]:
        return self.fc_cls(embeddings), (self.fc_reg(embeddings) if self.with_reg else None)

    def loss_and_target(self, *args, **kwargs) -> dict:
        test_classes = self.num_classes
        self.num_classes = self.fc_cls.num_train_classes  # background label = last training column
        try:
            return super().loss_and_target(*args, **kwargs)
        finally:
            self.num_classes = test_classes

    def predict_single(self, roi: torch.Tensor, cls_score: torch.Tensor, bbox_pred: Optional[torch.Tensor],
                       img_meta: dict, rescale: bool, rcnn_test_cfg, rpn_scores: Optional[torch.Tensor] = None,
                       rpn_score_fusion: Optional[str] = None,
                       rpn_logits: Optional[torch.Tensor] = None) -> InstanceData:
        """One image's detections in the reference's order (``fast_rcnn.py``): softmax, optional RPN fusion, boxes
        (deltas applied unless ``bbox_pred`` is None, clipped), rows with non-finite boxes or scores dropped,
        background dropped, ``score > score_thr``, per-class NMS (``rcnn_test_cfg.nms``: mmcv's, or
        ``type='detectron2_soft_nms'``, whose decayed scores are the output scores), the first ``max_per_img``, then
        rescaling. Plain NMS without fusion is mmdet's own path."""
        soft_nms = rcnn_test_cfg.nms.get('type') == DETECTRON2_SOFT_NMS
        fuse = rpn_score_fusion is not None and rpn_scores is not None
        if len(roi) == 0 or not (fuse or soft_nms):
            return self._predict_by_feat_single(roi, cls_score, bbox_pred, img_meta, rescale, rcnn_test_cfg)
        scores = F.softmax(cls_score, dim=-1)
        if fuse:
            scores = fuse_rpn_scores(scores, rpn_scores, rpn_score_fusion, rpn_logits)
        img_shape = img_meta['img_shape']
        if bbox_pred is not None:
            boxes = self.bbox_coder.decode(roi[:, 1:], bbox_pred.view(-1, self.bbox_coder.encode_size),
                                           max_shape=img_shape)
        else:
            boxes = roi[:, 1:].clone()
            boxes[:, [0, 2]] = boxes[:, [0, 2]].clamp(min=0, max=img_shape[1])
            boxes[:, [1, 3]] = boxes[:, [1, 3]].clamp(min=0, max=img_shape[0])
        valid = torch.isfinite(boxes).all(dim=1) & torch.isfinite(scores).all(dim=1)
        detections, labels = multiclass_nms(boxes[valid], scores[valid], rcnn_test_cfg.score_thr,
                                            resolve_nms_cfg(rcnn_test_cfg.nms), rcnn_test_cfg.max_per_img)
        results = InstanceData()
        results.bboxes, results.scores, results.labels = detections[:, :-1], detections[:, -1], labels
        if rescale and len(results):  # NMS ran on the network input's boxes, as the reference's
            results.bboxes = scale_boxes(results.bboxes, [1 / s for s in img_meta['scale_factor']])
        return results
