from .clip_vision_backbone import CLIPVisionBackbone
from .deep_prompt_clip_vit import DeepPromptCLIPViT

__all__ = ['CLIPVisionBackbone', 'DeepPromptCLIPViT']
