import logging
from typing import List, Optional

import torch
import torch.nn.functional as F
from mmengine.logging import print_log
from mmengine.structures import PixelData
from mmseg.structures import SegDataSample

from clipdense.models.clip import Vocabulary
from clipdense.models.heads.mask_classification import (INSTANCE_OFFSET, instance_inference, mask_combine,
                                                        panoptic_fusion, semantic_scores)

from .clip_encoder_decoder import CLIPEncoderDecoder
from .postprocess import unflip


class MaskClassificationSegmentor(CLIPEncoderDecoder):
    """A ``CLIPEncoderDecoder`` whose head classifies mask proposals (SAN, FC-CLIP): whole-image inference,
    ``seg_logits`` = Σ_q softmax(class logits)[:-1] · sigmoid(mask logits) at the original image size, combined
    as ``test_cfg.mask_combine`` says:

    * ``'original'`` (Mask2Former's ``sem_seg_postprocess`` before inference): the head's mask logits at the padded
      input are cropped to the image, resized to its original size (flipped back for test-time flips), then
      combined with the class logits here, per image;
    * ``'padded'``: the head combines at the padded input; mmseg's post-processing crops and resizes the class map.

    The head's ``predict(inputs, metas, test_cfg)`` returns the class map for ``'padded'`` and
    ``(mask logits at the padded input, class logits with a last no-object column)`` for ``'original'``.

    Thing outputs (``'original'`` only, as Mask2Former asserts), on the same masks and classes at the original
    size, for the classes of ``test_cfg.thing_classes`` (a class-name file or a list of class (first) names):

    * ``test_cfg.panoptic = dict(object_mask_threshold=0.0, overlap_threshold=0.8)`` adds ``pred_panoptic_seg``
      (``panoptic_fusion``);
    * ``test_cfg.instance = dict(max_per_image=100)`` adds ``pred_instances`` (``instance_inference``).

    The settings are read and checked at build.
    """
    THING_OUTPUTS = dict(panoptic=('object_mask_threshold', 'overlap_threshold'), instance=('max_per_image', ))

    def __init__(self, **kwargs):
        super().__init__(**kwargs)
        mask_combine(self.test_cfg)  # bad values fail at build, not at the first image
        self._thing_names, self._thing_outputs = self._read_thing_output_settings()
        self.thing_classes()

    def _read_thing_output_settings(self) -> tuple:
        """``test_cfg.thing_classes``, ``.panoptic`` and ``.instance``, checked and read once: (the thing classes'
        names, {output: its options}), or (None, {}) without thing outputs; says which thing classes the
        vocabulary lacks (a typo or a swapped vocabulary)."""
        test_cfg = self.test_cfg or {}
        outputs = {output: dict(test_cfg[output]) for output in self.THING_OUTPUTS if test_cfg.get(output) is not None}
        for output, options in outputs.items():
            unknown_options = set(options) - set(self.THING_OUTPUTS[output])
            if unknown_options:
                hint = ' (thing_classes is model.test_cfg.thing_classes)' if 'thing_classes' in unknown_options else ''
                raise ValueError(f'model.test_cfg.{output} has no option {sorted(unknown_options)}{hint}: it takes '
                                 f'{", ".join(self.THING_OUTPUTS[output])}')
        if not outputs:
            return None, {}
        if mask_combine(self.test_cfg) != 'original':
            raise ValueError(f"{' and '.join(outputs)} output needs model.test_cfg.mask_combine='original' (the masks "
                             "at the original size, as Mask2Former's inference takes them)")
        if test_cfg.get('thing_classes') is None:
            raise ValueError(f"{' and '.join(outputs)} output needs model.test_cfg.thing_classes: a class-name file "
                             "or a list of the vocabulary's class names (e.g. thing_classes=['person', 'car'])")
        things = Vocabulary.parse(test_cfg['thing_classes']).class_names
        absent = [name for name in things if name not in self.vocabulary.class_names]
        if absent:
            print_log(f'{len(absent)} of the {len(things)} thing classes are not in the vocabulary '
                      f'(e.g. {absent[:3]}); a class is a thing when its first name is in thing_classes.',
                      logger='current', level=logging.WARNING)
        return frozenset(things), outputs

    def thing_classes(self) -> Optional[torch.Tensor]:
        """Which classes of the current vocabulary are things (bool, (classes,)): those whose first name is in
        ``test_cfg.thing_classes``, so that a swapped vocabulary keeps the dataset's things it names; None
        without thing outputs."""
        if self._thing_names is None:
            return None
        if 'panoptic' in self._thing_outputs and self.num_classes >= INSTANCE_OFFSET:
            raise ValueError(f'panoptic output encodes segments as class + k * {INSTANCE_OFFSET}: a vocabulary '
                             f'of {self.num_classes} classes is too large for it')
        return torch.tensor([name in self._thing_names for name in self.vocabulary.class_names])

    def predict(self, inputs: torch.Tensor, data_samples: Optional[List[SegDataSample]] = None) -> List[SegDataSample]:
        if mask_combine(self.test_cfg) == 'padded':
            return super().predict(inputs, data_samples)
        if self.test_cfg.get('mode', 'whole') != 'whole':
            raise ValueError(f"{type(self).__name__} infers on whole images: set model.test_cfg.mode='whole'")
        thing_classes = self.thing_classes()
        metas = [sample.metainfo for sample in data_samples] if data_samples is not None else None
        mask_logits, class_logits = self.decode_head.predict(self.extract_feat(inputs), metas, self.test_cfg)
        if data_samples is None:
            data_samples = [SegDataSample() for _ in range(len(inputs))]
        for index, sample in enumerate(data_samples):
            masks = mask_logits[index:index + 1]
            if sample.metainfo:
                masks = self._to_original_size(masks, sample)
            classes = class_logits[index].to(masks)
            scores = semantic_scores(masks, classes[None])[0]
            # max's indices are argmax's labels (the first best class on ties) in a third of a CPU's time.
            labels = scores.max(dim=0, keepdim=True).indices
            sample.set_data(dict(seg_logits=PixelData(data=scores), pred_sem_seg=PixelData(data=labels)))
            if 'panoptic' in self._thing_outputs:
                segments = panoptic_fusion(classes, masks[0], thing_classes, **self._thing_outputs['panoptic'])
                sample.set_data(dict(pred_panoptic_seg=PixelData(data=segments[None])))
            if 'instance' in self._thing_outputs:
                sample.pred_instances = instance_inference(classes, masks[0], thing_classes,
                                                           **self._thing_outputs['instance'])
        return data_samples

    @staticmethod
    def _to_original_size(masks: torch.Tensor, sample: SegDataSample) -> torch.Tensor:
        """Mask logits at the padded input cropped to the image and resized to its original size (flipped back
        for test-time flips), as mmseg's ``postprocess_result`` treats class maps."""
        meta = sample.metainfo
        left, right, top, bottom = meta.get('img_padding_size', meta.get('padding_size', [0] * 4))
        height, width = masks.shape[-2:]
        masks = unflip(masks[..., top:height - bottom, left:width - right], sample)
        return F.interpolate(masks, size=meta['ori_shape'], mode='bilinear', align_corners=False)
