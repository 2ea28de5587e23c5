from .clip_convnext import FrozenCLIPConvNeXt
from .clip_vision_backbone import CLIPVisionBackbone
from .deep_prompt_clip_vit import DeepPromptCLIPViT
from .san_clip_vit import SANCLIPFeatures, SANCLIPViT

__all__ = ['CLIPVisionBackbone', 'DeepPromptCLIPViT', 'FrozenCLIPConvNeXt', 'SANCLIPFeatures', 'SANCLIPViT']
