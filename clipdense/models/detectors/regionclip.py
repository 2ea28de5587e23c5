"""RegionCLIP's detector (C4): CLIP's ResNet as backbone and RoI head, CLIP's text tower as classifier."""
from typing import Optional, Sequence, Union

import torch
from mmengine.structures import InstanceData

from clipdense.models.clip import ClassEmbeddings, Vocabulary
from clipdense.models.utils import build_clip_and_text
from clipdense.registry import MODELS
from clipdense.utils import UserError

from .open_vocabulary_detector import OpenVocabularyDetector

TEST_PROPOSALS = ('rpn', 'gt')


class RegionCLIPConfigError(UserError, ValueError):
    """A RegionCLIP option that cannot work."""


@MODELS.register_module()
class RegionCLIP(OpenVocabularyDetector):
    """RegionCLIP (Zhong et al., CVPR 2022; microsoft/RegionCLIP ``CLIPFastRCNN``), C4 layout: a CLIP ResNet up to
    res4 (``CLIPResNetC4``), proposals, and ``RegionCLIPRoIHead`` (CLIP's ``layer4`` and attention pool on RoI
    maps, cosine with the vocabulary's text embeddings × 100, a zero background logit, class-agnostic boxes).

    The CLIP of ``clip`` is used twice, as in the reference: its visual tower is the backbone (and the RoI head's
    res5 and pool), its text tower encodes the vocabularies: per class the mean of the un-normalised prompt
    embeddings over ``'{}.'`` and CLIP's 80 ImageNet templates (``normalize_prompts=False``), normalised.

    Args:
        clip: ``dict(name=..., pretrained=...)`` (RegionCLIP: ``RN50`` / ``RN50x4``, OpenAI weights, or the
            released RegionCLIP weights through ``tools/model_converters/regionclip2clipdense.py``).
        vocabulary: test classes, one per dataset label; ``train_vocabulary``: the classes trained on (default
            ``vocabulary``); dataset labels of other classes are dropped from the training targets.
        test_proposals: ``'rpn'`` (the RPN's proposals) or ``'gt'``: each image's ground-truth boxes are the
            proposals and are scored as they are (the reference's zero-shot ``CROP_REGION_TYPE GT``; the test
            pipeline must load the boxes). ``'gt'`` needs no RPN.
        offline_rpn: an ``OfflineRPN`` config: the reference's frozen proposal network (``CROP_REGION_TYPE RPN``),
            run on the same augmented images in training and at test time; instead of ``rpn_head``, mmdet's RPN on
            CLIP's res4 trained with the detector.
        backbone, rpn_head, roi_head, train_cfg, test_cfg, data_preprocessor: mmdet's; the backbone config gets
            the CLIP's visual tower as ``visual``.
    """

    def __init__(self, clip: dict, vocabulary: Union[str, Sequence], backbone: dict, roi_head: dict,
                 train_cfg: Optional[dict] = None, test_cfg: Optional[dict] = None, rpn_head: Optional[dict] = None,
                 train_vocabulary: Optional[Union[str, Sequence]] = None,
                 templates: Union[str, Sequence[str]] = 'regionclip81', name_style: str = 'regionclip',
                 normalize_prompts: bool = False, test_proposals: str = 'rpn', offline_rpn: Optional[dict] = None,
                 text_cache_dir: Optional[str] = 'default', data_preprocessor: Optional[dict] = None,
                 precision: str = 'fp32', init_cfg: Optional[dict] = None):
        if test_proposals not in TEST_PROPOSALS:
            raise RegionCLIPConfigError(f'test_proposals={test_proposals!r} is unknown: use "rpn" or "gt"')
        if rpn_head is not None and offline_rpn is not None:
            raise RegionCLIPConfigError('RegionCLIP takes proposals from rpn_head or from offline_rpn, not both: set '
                                        'the other to None')
        if rpn_head is None and offline_rpn is None and test_proposals == 'rpn':
            raise RegionCLIPConfigError('RegionCLIP without rpn_head or offline_rpn needs test_proposals="gt" '
                                        '(ground-truth boxes as proposals); add an offline_rpn to detect')
        clip_model, text_classifier = build_clip_and_text(clip, templates, text_cache_dir, name_style,
                                                          normalize_prompts=normalize_prompts, precision=precision)
        num_classes = len(Vocabulary.parse(vocabulary))
        backbone = dict(backbone, visual=clip_model.visual)
        roi_head = dict(roi_head, bbox_head=dict(roi_head['bbox_head'], num_classes=num_classes))
        super().__init__(backbone=backbone, rpn_head=rpn_head, roi_head=roi_head, train_cfg=train_cfg,
                         test_cfg=test_cfg, data_preprocessor=data_preprocessor, init_cfg=init_cfg)
        self.test_proposals = test_proposals
        self.offline_rpn = MODELS.build(offline_rpn) if offline_rpn is not None else None
        self.roi_head.attach_backbone(self.backbone)
        self.apply_precision(precision)
        self.init_vocabularies(text_classifier, vocabulary, train_vocabulary)

    def apply_vocabulary(self, classes: ClassEmbeddings, training: bool) -> None:
        self.roi_head.set_class_embeddings(classes, training)

    def loss(self, batch_inputs: torch.Tensor, batch_data_samples: list) -> dict:
        """mmdet's two-stage loss on the training classes: dataset labels become ``train_vocabulary`` indices and
        instances of other classes are dropped (they are background to the detector)."""
        samples = []
        for sample in batch_data_samples:
            sample = sample.clone()  # the caller's samples keep dataset labels
            labels = sample.gt_instances.labels
            trained = self.seen_classes.to(labels.device)[labels]
            sample.gt_instances = sample.gt_instances[trained]
            sample.gt_instances.labels = self.to_train_labels(labels[trained])
            samples.append(sample)
        if self.offline_rpn is None:
            return super().loss(batch_inputs, samples)
        proposals = self.offline_proposals(batch_inputs, samples)
        return self.roi_head.loss(self.extract_feat(batch_inputs), proposals, samples)

    def offline_proposals(self, batch_inputs: torch.Tensor, batch_data_samples: list) -> list:
        """The offline RPN's proposals for the unpadded images, recovered in 0–255 pixels from the normalised batch
        (detectron2's ``offline_preprocess_image`` starts from the same augmented images). The pixels are rounded
        back to the integers that mmdet's loading and resizing give (uint8): without it, float round-off reorders
        near-tied objectness logits and NMS keeps other boxes."""
        preprocessor = self.data_preprocessor
        pixels = (batch_inputs * preprocessor.std + preprocessor.mean).round()
        # mmdet loads BGR; the preprocessor's only channel option flips it (bgr_to_rgb)
        pixel_order = 'RGB' if preprocessor._channel_conversion else 'BGR'
        images = [image[:, :sample.img_shape[0], :sample.img_shape[1]]
                  for image, sample in zip(pixels, batch_data_samples)]
        with self.lowered_precision():
            return self.offline_rpn(images, pixel_order)

    def apply_precision(self, precision: str) -> None:
        self.roi_head.precision = precision

    def predict(self, batch_inputs: torch.Tensor, batch_data_samples: list, rescale: bool = True) -> list:
        if self.test_proposals == 'rpn' and self.offline_rpn is None:
            return super().predict(batch_inputs, batch_data_samples, rescale)
        if self.test_proposals == 'rpn':
            features = self.extract_feat(batch_inputs)
            proposals = self.offline_proposals(batch_inputs, batch_data_samples)
            results = self.roi_head.predict(features, proposals, batch_data_samples, rescale=rescale)
            return self.add_pred_to_datasample(batch_data_samples, results)
        features = self.extract_feat(batch_inputs)
        proposals = []
        for sample in batch_data_samples:
            if 'gt_instances' not in sample or 'bboxes' not in sample.gt_instances:
                raise RegionCLIPConfigError('test_proposals="gt" needs ground-truth boxes in the test samples: add '
                                            'dict(type="mmdet.LoadAnnotations", with_bbox=True) to the test pipeline')
            boxes = sample.gt_instances.bboxes
            proposals.append(InstanceData(bboxes=getattr(boxes, 'tensor', boxes).to(features[0].device)))
        results = self.roi_head.predict(features, proposals, batch_data_samples, rescale=rescale, ground_truth=True)
        return self.add_pred_to_datasample(batch_data_samples, results)
