from typing import Optional, Sequence, Union

from mmseg.models.segmentors import EncoderDecoder

from clipdense.models.clip import TextClassifier, Vocabulary, build_clip
from clipdense.registry import MODELS


@MODELS.register_module()
class CLIPEncoderDecoder(EncoderDecoder):
    """mmseg's EncoderDecoder on a CLIP: the backbone wraps CLIP's vision tower and the decode head
    classifies against text embeddings of an open vocabulary. The base of trained open-vocabulary
    segmentors.

    Args:
        clip: ``dict(name=..., pretrained=...)``, see ``clipdense.models.clip.build_clip``.
        vocabulary: class names (a class-name file, a list, or ``"a;synonym,b"``); one class per dataset label.
        templates: prompt templates for the text classifier.
        backbone: config of a backbone that takes ``visual`` (e.g. ``CLIPVisionBackbone``); the CLIP vision
            tower is passed in.
        decode_head: config of a head with ``set_class_embeddings`` (e.g. ``TextClassifierHead``);
            ``num_classes`` and ``embed_dim`` are filled in.
    """

    def __init__(self, clip: dict, vocabulary: Union[str, Sequence], backbone: dict, decode_head: dict,
                 templates: Union[str, Sequence[str]] = 'imagenet80', text_cache_dir: Optional[str] = 'default',
                 **kwargs):
        clip_model = build_clip(clip['name'], clip.get('pretrained'))
        vocabulary = Vocabulary.parse(vocabulary)
        backbone = dict(backbone, visual=clip_model.visual)
        decode_head = dict(decode_head, num_classes=len(vocabulary))
        super().__init__(backbone=backbone, decode_head=decode_head, **kwargs)
        # The text tower is held outside the module tree: it is frozen and not part of checkpoints.
        self.text_classifier = TextClassifier(clip_model, templates, clip_name=clip['name'],
                                              cache_dir=text_cache_dir)
        self.set_vocabulary(vocabulary)

    def set_vocabulary(self, vocabulary) -> None:
        """Classify against ``vocabulary`` from now on (the number of classes may change)."""
        classes = self.text_classifier(vocabulary)
        self.decode_head.set_class_embeddings(classes)
        self.vocabulary = classes.vocabulary
