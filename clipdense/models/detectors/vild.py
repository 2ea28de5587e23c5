from typing import Optional, Sequence, Union

import torch

from clipdense.models.clip import ClassEmbeddings, ReleasedClassEmbeddings, Vocabulary
from clipdense.models.utils import build_clip_and_text
from clipdense.registry import MODELS

from .open_vocabulary_detector import OpenVocabularyDetector


@MODELS.register_module()
class ViLD(OpenVocabularyDetector):
    """ViLD (Gu et al., ICLR 2022; tensorflow/tpu ``projects/vild``): a Mask R-CNN whose box head classifies
    regions in CLIP's space against text embeddings of an open vocabulary (``ViLDRoIHead``), trained on the
    seen classes (ViLD-text), optionally distilling CLIP's embeddings of precomputed regions (ViLD-image, the
    ``LoadRegionEmbeddings`` transform and ``tools/vild_region_embeddings.py``) and ensembling an image branch
    (ViLD-ensemble).

    Args:
        clip: ``dict(name=..., pretrained=...)`` of the CLIP whose text tower encodes the vocabulary (ViLD: ViT-B/32).
        vocabulary: the classes detected at test time, one per dataset label (a class-name file or a list).
        train_vocabulary: the classes trained on (the base classes); dataset labels of other classes are dropped
            from the training targets. Default: ``vocabulary``.
        templates, name_style: how class names become prompts (ViLD: the 63 templates with "This is", its name
            rewriting: ``'vild63'``, ``'vild'``).
        class_embeddings: a file of the embeddings a released checkpoint classifies ``vocabulary`` with (the
            reference's ``class-predict`` kernel, written by ``tools/model_converters/vild2clipdense.py``), used in
            place of encoding that vocabulary or its subsets (``ReleasedClassEmbeddings``).
        backbone, neck, rpn_head, roi_head, train_cfg, test_cfg, data_preprocessor: mmdet's.
    """

    def __init__(self, clip: dict, vocabulary: Union[str, Sequence], backbone: dict, rpn_head: dict, roi_head: dict,
                 train_cfg: dict, test_cfg: dict, neck: Optional[dict] = None,
                 train_vocabulary: Optional[Union[str, Sequence]] = None,
                 templates: Union[str, Sequence[str]] = 'vild63', name_style: str = 'vild',
                 text_cache_dir: Optional[str] = 'default', class_embeddings: Optional[str] = None,
                 data_preprocessor: Optional[dict] = None,
                 precision: str = 'fp32', init_cfg: Optional[dict] = None):
        _, text_classifier = build_clip_and_text(clip, templates, text_cache_dir, name_style,
                                                 precision=precision)
        if class_embeddings is not None:
            text_classifier = ReleasedClassEmbeddings(text_classifier, vocabulary, class_embeddings)
        num_classes = len(Vocabulary.parse(vocabulary))
        roi_head = dict(roi_head, bbox_head=dict(roi_head['bbox_head'], num_classes=num_classes))
        super().__init__(backbone=backbone, neck=neck, rpn_head=rpn_head, roi_head=roi_head, train_cfg=train_cfg,
                         test_cfg=test_cfg, data_preprocessor=data_preprocessor, init_cfg=init_cfg)
        self.init_vocabularies(text_classifier, vocabulary, train_vocabulary)

    def apply_vocabulary(self, classes: ClassEmbeddings, training: bool) -> None:
        self.roi_head.set_class_embeddings(classes, training)

    def _update_train_label_map(self) -> None:
        super()._update_train_label_map()
        if getattr(self, 'train_vocabulary', None) is not None:
            self.roi_head.set_seen_classes(self.seen_classes)

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
        return super().loss(batch_inputs, samples)
