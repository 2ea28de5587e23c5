from .clip_convnext import FrozenCLIPConvNeXt
from .clip_resnet_c4 import CLIPResNetC4
from .clip_vision_backbone import CLIPVisionBackbone
from .deep_prompt_clip_vit import DeepPromptCLIPViT
from .san_clip_vit import SANCLIPFeatures, SANCLIPViT
from .vild_resnet import ViLDResNet

__all__ = ['CLIPResNetC4', 'CLIPVisionBackbone', 'DeepPromptCLIPViT', 'FrozenCLIPConvNeXt', 'SANCLIPFeatures',
           'SANCLIPViT', 'ViLDResNet']
