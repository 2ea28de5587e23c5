"""Everything about CLIP itself: loading, dense vision features, last-block variants, text classifier.

Nothing here knows about segmentation or detection; methods import this package, never the reverse.
"""
from .last_blocks import (ClearCLIPLastBlock, LastBlock, MaskCLIPLastBlock, NACLIPLastBlock, SCLIPLastBlock,
                          VanillaLastBlock, gaussian_neighbourhood_bias)
from .loading import CLIPLoadError, build_clip, build_openai_clip, is_openai_state_dict, read_state_dict
from .templates import IMAGENET_80, MASKCLIP_85, TEMPLATE_SETS, resolve_templates
from .text import ClassEmbeddings, TextClassifier, max_over_synonyms
from .vision import DenseCLIPVision, DenseFeatures, interpolate_pos_embed
from .vocabulary import Vocabulary

__all__ = [
    'CLIPLoadError', 'build_clip', 'build_openai_clip', 'is_openai_state_dict', 'read_state_dict',
    'DenseCLIPVision', 'DenseFeatures', 'interpolate_pos_embed', 'LastBlock', 'VanillaLastBlock',
    'MaskCLIPLastBlock', 'SCLIPLastBlock', 'ClearCLIPLastBlock', 'NACLIPLastBlock', 'gaussian_neighbourhood_bias',
    'TextClassifier', 'ClassEmbeddings', 'max_over_synonyms', 'Vocabulary', 'IMAGENET_80', 'MASKCLIP_85', 'TEMPLATE_SETS',
    'resolve_templates'
]
