"""SAN's head: mmseg's side adapter network and mask-classification loss, recognising masks with the segmentor's
staged CLIP instead of a copy of CLIP's last blocks."""
from typing import List, Sequence, Tuple

import torch
import torch.nn.functional as F
from mmengine.config import ConfigDict
from mmengine.model.weight_init import trunc_normal_
from mmseg.models.decode_heads.decode_head import BaseDecodeHead
from mmseg.models.decode_heads.san_head import SideAdapterCLIPHead, SideAdapterNetwork
from mmseg.utils import MatchMasks
from torch import nn

from clipdense.models.clip import ClassEmbeddings
from clipdense.registry import MODELS

from .mask_classification import mask_combine, per_class_logits, semantic_scores

@MODELS.register_module()
class SANHead(SideAdapterCLIPHead):
    """SAN's head (MendelXu/SAN; mmseg's ``SideAdapterCLIPHead`` port, whose network equals the official one).

    Reused from mmseg as they are: ``SideAdapterNetwork`` (side ViT, CLIP fusions, MLP mask decoder, attention
    bias), the Hungarian matching (``MatchMasks``), point sampling and the losses (``loss``/``loss_by_feat``: CE with
    the no-object weight, mask BCE and dice on importance-sampled points, deep supervision). What differs:

    * mask recognition runs on the segmentor's CLIP (``SANCLIPViT.recognize``), not on a second copy of its last
      blocks: ``forward`` takes ``(images, clip features, recognize)``;
    * the classifier is the vocabulary's text embeddings (``set_class_embeddings``) with the learnable background
      embedding ``bg_embed`` appended, renormalised and scaled by exp(CLIP's logit scale) (``logit_scale``, set by
      the segmentor). A class with synonyms scores its best name;
    * initialisation follows the official code: the side adapter's transformer layers get timm's ViT init
      (truncated normal, std 0.02, zero biases), where mmseg's port keeps PyTorch's defaults.

    Args:
        num_classes: classes of the test vocabulary (filled in by the segmentor).
        san_cfg: ``SideAdapterNetwork``'s arguments (mmseg's names); ``cfg_decoder.num_layers`` must be 1 (one bias
            for every recognition block, as SAN).
        deep_supervision_idxs: side blocks (1-based) whose predictions are also supervised (the last always is).
        train_cfg: ``num_points``, ``oversample_ratio``, ``importance_sample_ratio``, ``assigner`` (mmseg's).
        embed_dim: CLIP's joint-space dimension (the background embedding's).
        no_object_weight: CE weight of the no-object class (the others weigh 1).

    ``predict`` follows ``test_cfg.mask_combine``: ``'original'`` (official): the mask logits are resized to the
    padded input, cropped and resized to the original image before the sigmoid and the class sum (by the
    segmentor); ``'padded'`` (mmseg's port): sigmoid and class sum at the padded input, the class map then cropped
    and resized by mmseg's post-processing.
    """

    def __init__(self, num_classes: int, san_cfg: dict, deep_supervision_idxs: Sequence[int] = (7,),
                 train_cfg: dict = None, embed_dim: int = 512, no_object_weight: float = 0.1, **kwargs):
        san_cfg = ConfigDict(san_cfg)
        if san_cfg.cfg_decoder.num_layers != 1:
            raise ValueError('SAN shares one attention bias among the recognition blocks: '
                             f'san_cfg.cfg_decoder.num_layers must be 1, got {san_cfg.cfg_decoder.num_layers}')
        # SideAdapterCLIPHead.__init__ would also build RecWithAttnbias, a second copy of CLIP's last blocks; SAN
        # recognises with the segmentor's CLIP, so only the base class is initialised here.
        BaseDecodeHead.__init__(self, in_channels=san_cfg.in_channels, channels=san_cfg.embed_dims,
                                num_classes=num_classes, **kwargs)
        del self.conv_seg
        self.side_adapter_network = SideAdapterNetwork(**san_cfg)
        self.deep_supervision_idxs = list(deep_supervision_idxs)
        self.train_cfg = ConfigDict(train_cfg) if train_cfg else None
        if self.train_cfg:
            self.match_masks = MatchMasks(num_points=self.train_cfg.num_points, num_queries=san_cfg.num_queries,
                                          num_classes=num_classes, assigner=self.train_cfg.assigner)
        self.bg_embed = nn.Parameter(torch.empty(1, embed_dim))
        self.no_object_weight = no_object_weight
        self.register_buffer('logit_scale', torch.tensor(100.0), persistent=False)
        self.classes = {}
        self.init_weights()

    def init_weights(self):
        """The official initialisation (see the class docstring); mmseg's port crashes here without a
        ``pretrained`` checkpoint and leaves the side transformer at PyTorch's defaults."""
        self.side_adapter_network.init_weights()
        for module in self.side_adapter_network.encode_layers.modules():
            if isinstance(module, nn.Linear):
                trunc_normal_(module.weight, std=0.02)
                nn.init.zeros_(module.bias)
            elif isinstance(module, nn.MultiheadAttention):
                trunc_normal_(module.in_proj_weight, std=0.02)
                nn.init.zeros_(module.in_proj_bias)
        nn.init.normal_(self.bg_embed, std=self.bg_embed.shape[1] ** -0.5)

    # ---- vocabulary ------------------------------------------------------------------------------------------
    def set_class_embeddings(self, classes: ClassEmbeddings, training: bool = False) -> None:
        """Classify against ``classes`` in training (``training=True``) or at test time."""
        self.classes[training] = classes
        if training:
            if self.train_cfg:
                self.match_masks.num_classes = classes.num_classes
            for loss in self._losses():
                if loss.loss_name == 'loss_cls_ce':
                    loss.class_weight = [1.0] * classes.num_classes + [self.no_object_weight]
        else:
            self.num_classes = self.out_channels = classes.num_classes

    def _losses(self) -> List[nn.Module]:
        return list(self.loss_decode) if isinstance(self.loss_decode, nn.ModuleList) else [self.loss_decode]

    def classifier(self) -> Tuple[torch.Tensor, ClassEmbeddings]:
        """The (names + 1, embed_dim) classifier rows — text embeddings and ``bg_embed``, renormalised, times the
        logit scale — and the classes they belong to."""
        classes = self.classes[self.training]
        rows = torch.cat([classes.embeddings.to(self.bg_embed), self.bg_embed])
        return self.logit_scale * F.normalize(rows, p=2, dim=-1), classes

    def class_logits(self, mask_embeddings: torch.Tensor) -> torch.Tensor:
        """(B, Q, classes + 1) logits of mask embeddings (B, Q, embed_dim); the last column is no-object."""
        rows, classes = self.classifier()
        logits = torch.einsum('bqc,nc->bqn', mask_embeddings, rows.to(mask_embeddings))
        return per_class_logits(logits, classes)

    # ---- forward -----------------------------------------------------------------------------------------------
    def forward(self, inputs: tuple, deep_supervision_idxs: Sequence[int]) -> Tuple[List, List]:
        """Mask logits (B, Q, h, w) on the side adapter's grid and class logits (B, Q, classes + 1), for the
        deep-supervision blocks then the last one, from ``(images, clip features, recognize)``."""
        images, features, recognize = inputs
        fusion_inputs = [(patch_map,) for patch_map in features.maps]  # mmseg's side adapter reads [i][0]
        mask_logits, attn_biases = self.side_adapter_network(images, fusion_inputs, list(deep_supervision_idxs))
        class_logits = [self.class_logits(recognize(features, biases[0])) for biases in attn_biases]
        return mask_logits, class_logits

    semantic_scores = staticmethod(semantic_scores)

    def predict(self, inputs: tuple, batch_img_metas: List[dict], test_cfg) -> torch.Tensor:
        """``'padded'``: the class scores at the padded input size (mmseg's port). ``'original'``: the last block's
        mask logits resized to the padded input and the class logits, for the segmentor to combine per image at
        its original size."""
        mask_logits, class_logits = self.forward(inputs, [])
        if mask_combine(test_cfg) == 'padded':
            return self.predict_by_feat([mask_logits[-1], class_logits[-1]], batch_img_metas)
        size = inputs[0].shape[2:]
        return F.interpolate(mask_logits[-1], size=size, mode='bilinear', align_corners=False), class_logits[-1]
