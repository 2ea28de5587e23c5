"""Everything about CLIP itself: loading, the staged vision towers, dense features, last-block variants, the text
classifier.

Nothing here knows about segmentation or detection; methods import this package, never the reverse.
"""
from .last_blocks import (LAST_BLOCKS, ClearCLIPLastBlock, LastBlock, MaskCLIPLastBlock, NACLIPLastBlock,
                          SCLIPLastBlock, VanillaLastBlock, gaussian_neighbourhood_bias)
from .loading import CLIPLoadError, build_clip, build_openai_clip, is_openai_state_dict, read_state_dict
from .pos_embed import POS_INTERPOLATIONS, interpolate_pos_embed
from .staged_convnext import StagedConvNeXt
from .staged_resnet import StagedModifiedResNet
from .staged_vit import ImageTooSmallError, StagedViT, insert_tokens
from .templates import IMAGENET_80, MASKCLIP_85, TEMPLATE_SETS, resolve_templates
from .text import (ClassEmbeddings, ClassEmbeddingsFileError, ReleasedClassEmbeddings, TextClassifier,
                   max_over_synonyms, text_state_fingerprint, text_tower_fingerprint)
from .vision import DenseCLIPVision, DenseFeatures, staged_vision, tower_kind
from .vocabulary import Vocabulary

__all__ = [
    'CLIPLoadError', 'build_clip', 'build_openai_clip', 'is_openai_state_dict', 'read_state_dict', 'StagedViT',
    'StagedModifiedResNet', 'StagedConvNeXt', 'staged_vision', 'tower_kind', 'insert_tokens', 'ImageTooSmallError',
    'POS_INTERPOLATIONS', 'interpolate_pos_embed', 'DenseCLIPVision', 'DenseFeatures', 'LAST_BLOCKS', 'LastBlock',
    'VanillaLastBlock', 'MaskCLIPLastBlock', 'SCLIPLastBlock', 'ClearCLIPLastBlock', 'NACLIPLastBlock',
    'gaussian_neighbourhood_bias', 'TextClassifier', 'ClassEmbeddings', 'ReleasedClassEmbeddings',
    'ClassEmbeddingsFileError', 'max_over_synonyms', 'text_tower_fingerprint',
    'text_state_fingerprint',
    'Vocabulary', 'IMAGENET_80', 'MASKCLIP_85', 'TEMPLATE_SETS', 'resolve_templates'
]
