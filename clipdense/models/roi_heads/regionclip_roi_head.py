"""RegionCLIP's C4 RoI head: RoIAlign on res4 → CLIP's layer4 → CLIP's attention pool → text classifier."""
from typing import List, Optional, Tuple

import torch
from mmdet.models.roi_heads import StandardRoIHead
from mmdet.models.utils import empty_instances
from mmdet.structures.bbox import bbox2roi

from clipdense.models.clip import ClassEmbeddings
from clipdense.registry import MODELS
from clipdense.utils.precision import run_lowered

from .regionclip_bbox_head import RPN_SCORE_FUSIONS, RPNScoreFusionError


@MODELS.register_module()
class RegionCLIPRoIHead(StandardRoIHead):
    """RegionCLIP's ``CLIPRes5ROIHeads`` (``roi_heads/clip_roi_heads.py``) on mmdet's ``StandardRoIHead``.

    RoI features are RoIAlign (aligned, ``bbox_roi_extractor``) on the backbone's res4 at 14×14 (18 for RN50x4),
    then the backbone's ``layer4`` (→ 7×7, 9×9: CLIP's attention-pool grid) and CLIP's attention pool: the region
    embedding that ``RegionCLIPBBoxHead`` classifies and regresses. ``layer4`` and the pool belong to the
    backbone (``CLIPResNetC4``), as in the reference; the detector hands the backbone over with
    ``attach_backbone`` (kept outside this module's tree so its weights are not registered twice).

    With a ``mask_head`` (the OV-LVIS fine-tuning, ``MASK_ON``: ``Detectron2MaskHead``, class-agnostic, no convs)
    masks are read from the same res5 maps, as the reference's ``_shared_roi_transform`` shares them: in training those
    of the positive RoIs of the box branch; at test those of the final detections, recomputed on their boxes
    (``forward_with_given_boxes``), pasted into the image at ``test_cfg.mask_thr_binary``.

    Args:
        rpn_score_fusion: at test time, how RPN objectness joins the class probabilities (the reference's
            ``MULTIPLY_RPN_SCORE``): None (off), ``'sigmoid'`` or ``'reference'`` (``fuse_rpn_scores``).

    ``precision`` (set by the detector, ``model.precision``): the format the region tower (layer4 + pool) runs in
    at inference; its embeddings reach the box head in fp32.
    """

    precision = 'fp32'

    def __init__(self, rpn_score_fusion: Optional[str] = None, **kwargs):
        super().__init__(**kwargs)
        if rpn_score_fusion not in RPN_SCORE_FUSIONS:
            raise RPNScoreFusionError(f'rpn_score_fusion={rpn_score_fusion!r} is unknown: use None, "sigmoid" or '
                                      '"reference"')
        self.rpn_score_fusion = rpn_score_fusion

    def attach_backbone(self, backbone) -> None:
        """Use ``backbone.run_res5`` and ``backbone.attention_pool`` (a ``CLIPResNetC4``) on RoI maps."""
        object.__setattr__(self, '_clip_backbone', backbone)  # a plain reference, not a submodule

    def set_class_embeddings(self, classes: ClassEmbeddings, training: bool) -> None:
        self.bbox_head.set_class_embeddings(classes, training)

    def region_features(self, x: Tuple[torch.Tensor], rois: torch.Tensor) -> torch.Tensor:
        """res5 maps of ``rois`` (K, 5) on the res4 map ``x[0]``: RoIAlign, then the backbone's ``layer4``."""
        backbone = getattr(self, '_clip_backbone', None)
        if backbone is None:
            raise RuntimeError('RegionCLIPRoIHead has no backbone: call attach_backbone(detector.backbone)')
        return backbone.run_res5(self.bbox_roi_extractor(x[:self.bbox_roi_extractor.num_inputs], rois))

    def region_towers(self, x: Tuple[torch.Tensor], rois: torch.Tensor) -> Tuple[torch.Tensor, torch.Tensor]:
        """The res5 maps of ``rois`` and their un-normalised CLIP embeddings (K, embed_dim): the attention pool."""
        res5 = self.region_features(x, rois)
        return res5, self._clip_backbone.attention_pool(res5)

    def region_embeddings(self, x: Tuple[torch.Tensor], rois: torch.Tensor) -> torch.Tensor:
        """Un-normalised CLIP embeddings (K, embed_dim) of ``rois`` (K, 5) on the res4 map ``x[0]``."""
        return self.region_towers(x, rois)[1]

    def _bbox_forward(self, x: Tuple[torch.Tensor], rois: torch.Tensor) -> dict:
        if self.training:  # bbox_feats: the maps mmdet's mask_loss hands to _mask_forward for the positive RoIs
            res5, embeddings = self.region_towers(x, rois)
        else:  # the mask head recomputes res5 on the final boxes: the proposals' maps are neither kept nor cast
            res5, embeddings = None, run_lowered(self.precision, rois.device, self.region_embeddings, x, rois)
        cls_score, bbox_pred = self.bbox_head(embeddings)
        return dict(cls_score=cls_score, bbox_pred=bbox_pred, bbox_feats=res5, embeddings=embeddings)

    def _mask_forward(self, x: Tuple[torch.Tensor], rois: Optional[torch.Tensor] = None,
                      pos_inds: Optional[torch.Tensor] = None, bbox_feats: Optional[torch.Tensor] = None) -> dict:
        """Mask logits on the box branch's res5 maps of the positive RoIs (training), or on those of ``rois``."""
        if rois is None:
            res5 = bbox_feats[pos_inds.bool()]
        else:
            res5 = run_lowered(self.precision, rois.device, self.region_features, x, rois)
        return dict(mask_preds=self.mask_head(res5))

    def predict(self, x: Tuple[torch.Tensor], rpn_results_list, batch_data_samples, rescale: bool = False,
                ground_truth: bool = False) -> list:
        """Detections per image. ``ground_truth``: the proposals are ground-truth boxes, scored as they are
        (no box deltas, no RPN fusion: the reference's ``CROP_REGION_TYPE GT``)."""
        batch_img_metas = [sample.metainfo for sample in batch_data_samples]
        # with masks the boxes stay in network-input pixels until the mask head has read them (mmdet's order)
        results = self.predict_bbox(x, batch_img_metas, rpn_results_list, self.test_cfg,
                                    rescale and not self.with_mask, ground_truth)
        if self.with_mask:
            results = self.predict_mask(x, batch_img_metas, results, rescale=rescale)
        return results

    def predict_bbox(self, x: Tuple[torch.Tensor], batch_img_metas: List[dict], rpn_results_list,
                     rcnn_test_cfg, rescale: bool = False, ground_truth: bool = False) -> list:
        proposals = [result.bboxes for result in rpn_results_list]
        rois = bbox2roi(proposals)
        if rois.shape[0] == 0:
            return empty_instances(batch_img_metas, rois.device, task_type='bbox',
                                   box_type=self.bbox_head.predict_box_type, num_classes=self.bbox_head.num_classes,
                                   score_per_cls=rcnn_test_cfg is None)
        results = self._bbox_forward(x, rois)
        counts = [len(boxes) for boxes in proposals]
        cls_scores = results['cls_score'].split(counts)
        if ground_truth or results['bbox_pred'] is None:
            bbox_preds = [None] * len(counts)
        else:
            bbox_preds = results['bbox_pred'].split(counts)
        fusion = None if ground_truth else self.rpn_score_fusion
        return [
            self.bbox_head.predict_single(image_rois, cls_score, bbox_pred, img_meta, rescale, rcnn_test_cfg,
                                          rpn_scores=result.get('scores'), rpn_score_fusion=fusion,
                                          rpn_logits=result.get('logits'))
            for image_rois, cls_score, bbox_pred, img_meta, result in zip(
                rois.split(counts), cls_scores, bbox_preds, batch_img_metas, rpn_results_list)]
