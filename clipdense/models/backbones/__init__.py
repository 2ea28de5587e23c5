from .clip_vision_backbone import CLIPVisionBackbone

__all__ = ['CLIPVisionBackbone']
