from typing import List, Optional, Sequence, Union

import torch
from mmengine.structures import PixelData
from mmseg.models.segmentors import EncoderDecoder
from mmseg.structures import SegDataSample

from clipdense.models.clip import ClassEmbeddings, Vocabulary
from clipdense.models.utils import OpenVocabularyMixin, SlidingWindow, build_clip_and_text
from clipdense.registry import MODELS


@MODELS.register_module()
class CLIPEncoderDecoder(OpenVocabularyMixin, EncoderDecoder):
    """mmseg's EncoderDecoder on a CLIP: the backbone wraps CLIP's vision tower and the decode head classifies
    against text embeddings of an open vocabulary. The base of trained open-vocabulary segmentors.

    The head classifies against ``train_vocabulary`` in the training loop (dataset labels of other classes are
    ignored) and against ``vocabulary`` at test time; either can be swapped (``set_vocabulary``,
    ``set_train_vocabulary``, ``--cfg-options model.vocabulary=...``). Sliding-window inference uses clipdense's
    batched ``SlidingWindow`` on mmseg's window grid. ``seg_logits`` holds what the head's ``predict`` returns,
    merged over windows and resized to the original image (for ``TextClassifierHead``: logit-scaled cosines).

    Args:
        clip: ``dict(name=..., pretrained=...)``, see ``clipdense.models.clip.build_clip``.
        vocabulary: class names (a class-name file, a list, or ``"a;synonym,b"``); one class per dataset label.
        train_vocabulary: the classes trained against (default: ``vocabulary``).
        templates: prompt templates for the text classifier.
        backbone: config of a backbone that takes ``visual`` (e.g. ``CLIPVisionBackbone``); the CLIP vision
            tower is passed in.
        decode_head: config of a head with ``set_class_embeddings(classes, training)`` (e.g.
            ``TextClassifierHead``); ``num_classes`` is filled in.
        test_cfg: mmseg's (``mode='slide'`` with ``crop_size``/``stride``, optional ``windows_per_batch``).
        precision: ``'fp32'`` (exact), ``'bf16'`` or ``'fp16'``: the format of inference
            (``clipdense.utils.precision``); training is not affected (``tools/train.py --amp``).
    """

    def __init__(self, clip: dict, vocabulary: Union[str, Sequence], backbone: dict, decode_head: dict,
                 train_vocabulary: Optional[Union[str, Sequence]] = None,
                 templates: Union[str, Sequence[str]] = 'imagenet80', text_cache_dir: Optional[str] = 'default',
                 precision: str = 'fp32', **kwargs):
        clip_model, text_classifier = build_clip_and_text(clip, templates, text_cache_dir, precision=precision)
        backbone = dict(backbone, visual=clip_model.visual)
        decode_head = dict(decode_head, num_classes=len(Vocabulary.parse(vocabulary)))
        super().__init__(backbone=backbone, decode_head=decode_head, **kwargs)
        self.init_vocabularies(text_classifier, vocabulary, train_vocabulary)

    def apply_vocabulary(self, classes: ClassEmbeddings, training: bool) -> None:
        self.decode_head.set_class_embeddings(classes, training)

    def loss(self, inputs: torch.Tensor, data_samples: List[SegDataSample]) -> dict:
        data_samples = [sample.clone() for sample in data_samples]  # the caller's samples keep dataset labels
        for sample in data_samples:
            sample.gt_sem_seg = PixelData(data=self.to_train_labels(sample.gt_sem_seg.data))
            if 'segment_labels' in sample.metainfo:  # panoptic segments (LoadPanopticAnnotations)
                labels = torch.as_tensor(sample.metainfo['segment_labels'], dtype=torch.long)
                sample.set_metainfo(dict(segment_labels=self.to_train_labels(labels)))
        return super().loss(inputs, data_samples)

    def slide_inference(self, inputs: torch.Tensor, batch_img_metas: List[dict]) -> torch.Tensor:
        """mmseg's sliding window (same grid, window outputs averaged by count) with all windows of the batch
        through the model together, ``test_cfg.windows_per_batch`` (default 16) at a time."""
        sliding_window = SlidingWindow(self.test_cfg.crop_size, self.test_cfg.stride,
                                       self.test_cfg.get('windows_per_batch', 16))

        def window_logits(windows: torch.Tensor) -> torch.Tensor:
            return self.encode_decode(windows, [dict(img_shape=windows.shape[2:])] * len(windows))

        shapes = [tuple(inputs.shape[2:])] * inputs.shape[0]
        return torch.stack(sliding_window(inputs, shapes, window_logits))

