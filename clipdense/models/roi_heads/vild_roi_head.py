"""ViLD's RoI head: mmdet's standard head plus distillation from CLIP region embeddings and the ensemble."""
from typing import List, Optional, Tuple

import torch
from mmdet.models.roi_heads import StandardRoIHead
from mmdet.structures.bbox import bbox2roi, bbox_project

from clipdense.models.clip import ClassEmbeddings
from clipdense.registry import MODELS


@MODELS.register_module()
class ViLDRoIHead(StandardRoIHead):
    """mmdet's ``StandardRoIHead`` with ViLD's training and scoring (tensorflow/tpu ``projects/vild``).

    * **ViLD-text**: ``bbox_head`` is a ``ViLDBBoxHead``; in training, classes of the test vocabulary outside the
      training one get logit 0 (``RegionTextClassifier.num_untrained_classes``: the reference's ``mask_rare``
      multiplies their logits by 0, so they stay in the softmax).
    * **ViLD-image** (distillation): images carrying CLIP embeddings of precomputed regions
      (``LoadRegionEmbeddings``: ``region_boxes`` in original-image coordinates, ``region_embeddings``) have
      those boxes mapped through the augmentation (``homography_matrix``) and embedded by the head; the loss is
      ``distillation_weight`` × the mean over regions of ‖embedding − normalised CLIP embedding‖₁. Distillation
      regions get no classification or box loss. Without ``image_bbox_head`` they pass through ``bbox_head``
      together with the sampled RoIs (one batch-norm batch, as in the reference).
    * **ViLD-ensemble**: with ``image_bbox_head`` (a second ``ViLDBBoxHead``, its classifier without background)
      the distillation regions go through that head only; at test time both heads score the same proposals
      against the same text embeddings and a class's score is ``(p_img · p_text · p_split)^(1/3)``, ``p_split``
      being ``p_text`` for seen (training) classes and ``p_img`` otherwise: ``p_text^⅔ p_img^⅓`` on seen classes,
      ``p_text^⅓ p_img^⅔`` on the others; ``p_text`` is the softmax with background, background dropped.
      Boxes come from the text head.
    """

    def __init__(self, image_bbox_head: Optional[dict] = None, distillation_weight: float = 0.5, **kwargs):
        super().__init__(**kwargs)
        self.image_bbox_head = MODELS.build(image_bbox_head) if image_bbox_head is not None else None
        self.bbox_head.scores_given = self.with_ensemble  # at test time the ensemble hands over its scores
        self.distillation_weight = distillation_weight
        self.register_buffer('seen_classes', torch.zeros(0, dtype=torch.bool), persistent=False)
        self._regions = None  # the batch's distillation regions, set for the span of ``loss``

    @property
    def with_ensemble(self) -> bool:
        return self.image_bbox_head is not None

    def set_class_embeddings(self, classes: ClassEmbeddings, training: bool) -> None:
        self.bbox_head.set_class_embeddings(classes, training)
        if self.with_ensemble:
            self.image_bbox_head.set_class_embeddings(classes, training)

    def set_seen_classes(self, seen_classes: torch.Tensor) -> None:
        """Which test classes are training classes: the untrained ones get logit 0 in training (their count) and
        the image branch's larger weight in the ensemble."""
        self.seen_classes = seen_classes.to(self.seen_classes.device)
        self.bbox_head.fc_cls.num_untrained_classes = int((~seen_classes).sum())

    # ---- training -----------------------------------------------------------------------------------------
    def loss(self, x: Tuple[torch.Tensor], rpn_results_list, batch_data_samples) -> dict:
        self._regions = distillation_regions(batch_data_samples, x[0].device)
        try:
            return super().loss(x, rpn_results_list, batch_data_samples)
        finally:
            self._regions = None

    def bbox_loss(self, x: Tuple[torch.Tensor], sampling_results) -> dict:
        if self._regions is None:
            return super().bbox_loss(x, sampling_results)
        region_rois, targets = self._regions
        rois = bbox2roi([result.priors for result in sampling_results])
        if self.with_ensemble:
            results = self._bbox_forward(x, rois)
            embeddings = self.image_bbox_head.region_embeddings(self._roi_features(x, region_rois))
        else:
            features = self._roi_features(x, torch.cat([rois, region_rois]))
            cls_score, bbox_pred, embeddings = self.bbox_head.forward_with_embeddings(features, len(rois))
            results = dict(cls_score=cls_score, bbox_pred=bbox_pred, bbox_feats=features[:len(rois)])
            embeddings = embeddings[len(rois):]
        losses = self.bbox_head.loss_and_target(
            cls_score=results['cls_score'], bbox_pred=results['bbox_pred'], rois=rois,
            sampling_results=sampling_results, rcnn_train_cfg=self.train_cfg)['loss_bbox']
        if targets.shape[1] != embeddings.shape[1]:
            raise ValueError(f'the region embeddings are {targets.shape[1]}-d but the head embeds into '
                             f'{embeddings.shape[1]} dimensions: they were written with another CLIP than this '
                             'model\'s (model.clip); rewrite them with tools/vild_region_embeddings.py')
        if len(targets):
            distance = (embeddings - targets.to(embeddings.dtype)).abs().sum(dim=-1).mean()
        else:  # keeps the graph (and the distributed reducer) whole
            distance = embeddings.sum() * 0
        losses['loss_distill'] = self.distillation_weight * distance
        results.update(loss_bbox=losses)
        return results

    def _roi_features(self, x: Tuple[torch.Tensor], rois: torch.Tensor) -> torch.Tensor:
        features = self.bbox_roi_extractor(x[:self.bbox_roi_extractor.num_inputs], rois)
        return self.shared_head(features) if self.with_shared_head else features

    # ---- inference ----------------------------------------------------------------------------------------
    def _bbox_forward(self, x: Tuple[torch.Tensor], rois: torch.Tensor) -> dict:
        results = super()._bbox_forward(x, rois)
        if self.with_ensemble and not self.training:
            results['cls_score'] = self._ensemble_scores(results['cls_score'], results['bbox_feats'])
        return results

    def _ensemble_scores(self, text_logits: torch.Tensor, roi_features: torch.Tensor) -> torch.Tensor:
        """The ensemble's class scores (N, C + 1), background last: ``p_text``'s background probability, which
        mmdet's NMS ignores. The class scores can sum past 1 (up to ~1.06), so no softmax may renormalise them."""
        p_text, p_text_background = text_logits.softmax(dim=-1).split([text_logits.shape[1] - 1, 1], dim=-1)
        image_logits = self.image_bbox_head.fc_cls.classify(
            self.image_bbox_head.region_embeddings(roi_features), with_background=False)
        p_image = image_logits.softmax(dim=-1)
        seen = self.seen_classes.to(p_text.device)
        if len(seen) != p_text.shape[1]:
            raise RuntimeError(f'the ensemble needs the seen classes of the {p_text.shape[1]} test classes; '
                               f'{len(seen)} are set (ViLD.set_vocabulary sets them)')
        p_split = torch.where(seen, p_text, p_image)
        scores = (p_image * p_text * p_split).pow(1 / 3)
        return torch.cat([scores, p_text_background], dim=-1)


def distillation_regions(batch_data_samples, device) -> Optional[Tuple[torch.Tensor, torch.Tensor]]:
    """The batch's distillation RoIs (K, 5) in the augmented images and their normalised CLIP embeddings (K, D),
    or None when no image carries regions. Boxes are mapped through each image's ``homography_matrix`` and
    clipped to it; boxes left empty are dropped."""
    boxes: List[torch.Tensor] = []
    targets: List[torch.Tensor] = []
    found = False
    for sample in batch_data_samples:
        meta = sample.metainfo
        if 'region_boxes' not in meta:
            boxes.append(torch.zeros(0, 4, device=device))
            continue
        found = True
        image_boxes = torch.as_tensor(meta['region_boxes'], dtype=torch.float32).reshape(-1, 4)
        embeddings = torch.as_tensor(meta['region_embeddings'], dtype=torch.float32)
        if 'homography_matrix' in meta:
            image_boxes = bbox_project(image_boxes, torch.as_tensor(meta['homography_matrix'], dtype=torch.float32),
                                       meta['img_shape'])
        keep = (image_boxes[:, 2] > image_boxes[:, 0]) & (image_boxes[:, 3] > image_boxes[:, 1])
        boxes.append(image_boxes[keep].to(device))
        targets.append(torch.nn.functional.normalize(embeddings[keep], dim=-1).to(device))
    if not found:
        return None
    return bbox2roi(boxes), torch.cat(targets)
