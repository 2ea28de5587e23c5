"""FC-CLIP's head: mmdet's Mask2Former (pixel decoder, masked-attention decoder, losses) whose queries are classified
against text embeddings through mask-pooled pixel features, with FC-CLIP's out-of-vocabulary ensemble."""
import math
from typing import List, Tuple

import torch
import torch.nn.functional as F
from mmdet.models.layers import MLP
from mmengine.config import ConfigDict
from mmengine.structures import InstanceData
from mmseg.models.decode_heads import Mask2FormerHead
from torch import nn

from clipdense.datasets.transforms.panoptic import NO_SEGMENT
from clipdense.models.clip import ClassEmbeddings
from clipdense.registry import MODELS

from .mask_classification import mask_combine, mask_pool, per_class_logits, semantic_scores


@MODELS.register_module()
class FCCLIPHead(Mask2FormerHead):
    """FC-CLIP's head (Yu et al., NeurIPS 2023; bytedance/fc-clip), on mmdet's Mask2Former parts.

    mmdet's ``Mask2FormerHead`` is the official Mask2Former network parameter for parameter (pixel decoder on the
    three coarsest levels with one FPN level for the finest, masked attention cross → self → FFN, post-norm, the
    prediction of the learnable queries supervised too) and its loss is Mask2Former's (Hungarian matching on
    sampled points, CE with the no-object weight, mask BCE and dice on importance-sampled points). FC-CLIP replaces
    the class layer, at every decoder layer:

    * in-vocabulary classifier: the pixel decoder's mask features are mean-pooled inside that layer's binarised
      masks, pass ``LayerNorm`` + ``Linear``, are added to the decoder output and mapped by a 3-layer MLP into
      CLIP's space; logits = cosine with the vocabulary's text embeddings and a learned void embedding (appended,
      normalised) × clamp(exp(``logit_scale``), 100), ``logit_scale`` trainable; a class scores its best synonym;
    * out-of-vocabulary classifier (inference only): the last masks, resized to the frozen CLIP's last-stage grid
      and binarised, mean-pool CLIP's last-stage map; CLIP's own heads embed the pooled vectors; logits with
      CLIP's logit scale (clamped at 100);
    * geometric ensemble: p = softmax(log(p_in^(1−a) · p_out^a)) · (1 − p_void) with a = ``alpha`` for test
      classes sharing a name with the training vocabulary and ``beta`` otherwise; p_in and p_out are softmaxes
      without void, p_void the in-vocabulary softmax's void share. The class logits returned are log(p + 1e-8)
      with the void column last, as the reference passes them to its semantic and panoptic inference.

    Initialisation follows the official code: the decoder's attention and FFN weights xavier-uniform (mmdet:
    xavier-normal), the deformable encoder's weights xavier-uniform before the deformable attentions' own init, its
    layers' FFN biases equal (the reference deep-copies one layer).

    Args:
        num_classes: classes of the test vocabulary (filled in by the segmentor).
        embed_dim: CLIP's joint-space dimension.
        alpha, beta: ensemble weights of the out-of-vocabulary probabilities for seen and unseen classes.
        no_object_weight: CE weight of the no-object class (the others weigh 1).
        Other arguments: mmdet's ``Mask2FormerHead``'s (``loss_cls`` without ``class_weight``: it follows the
            training vocabulary).
    """

    def __init__(self, num_classes: int, embed_dim: int = 768, alpha: float = 0.4, beta: float = 0.8,
                 no_object_weight: float = 0.1, loss_cls: dict = None, **kwargs):
        loss_cls = ConfigDict(loss_cls or dict(type='mmdet.CrossEntropyLoss', use_sigmoid=False, loss_weight=2.0,
                                               reduction='mean'))
        loss_cls['class_weight'] = [1.0] * num_classes + [no_object_weight]
        self._test_num_classes = num_classes
        super().__init__(num_classes=num_classes, num_things_classes=num_classes, num_stuff_classes=0,
                         loss_cls=loss_cls, **kwargs)
        del self.cls_embed
        channels = kwargs['feat_channels']
        self.mask_pooling_proj = nn.Sequential(nn.LayerNorm(channels), nn.Linear(channels, channels))
        self.class_embed = MLP(channels, channels, embed_dim, 3)
        self.logit_scale = nn.Parameter(torch.tensor(math.log(1 / 0.07)))
        self.void_embedding = nn.Embedding(1, embed_dim)
        self.alpha, self.beta = alpha, beta
        self.no_object_weight = no_object_weight
        # exp(CLIP's logit scale), set by the segmentor from the CLIP it builds
        self.register_buffer('clip_logit_scale', torch.tensor(100.0), persistent=False)
        self.classes = {}

    def init_weights(self) -> None:
        super().init_weights()
        for module in (self.transformer_decoder, self.pixel_decoder.encoder):
            for param in module.parameters():
                if param.dim() > 1:
                    nn.init.xavier_uniform_(param)
        encoder_layers = self.pixel_decoder.encoder.layers
        for layer in encoder_layers:
            layer.self_attn.init_weights()
        # The reference clones one encoder layer: the FFN biases start equal in every layer.
        for layer in encoder_layers[1:]:
            for name, param in layer.ffn.named_parameters():
                if name.endswith('bias'):
                    param.data.copy_(encoder_layers[0].ffn.get_parameter(name))

    # ---- vocabulary ------------------------------------------------------------------------------------------
    @property
    def num_classes(self) -> int:
        """The classes classified against now: the training vocabulary's in training (mmdet's loss labels
        unmatched queries with it), the test vocabulary's otherwise."""
        classes = getattr(self, 'classes', {}).get(self.training)
        return classes.num_classes if classes is not None else self._test_num_classes

    @num_classes.setter
    def num_classes(self, value: int) -> None:
        self._test_num_classes = value

    def set_class_embeddings(self, classes: ClassEmbeddings, training: bool = False) -> None:
        """Classify against ``classes`` in training (``training=True``) or at test time."""
        self.classes[training] = classes
        if training:
            self.class_weight = [1.0] * classes.num_classes + [self.no_object_weight]
            self.loss_cls.class_weight = self.class_weight
        else:
            self._test_num_classes = self.out_channels = classes.num_classes

    def seen_classes(self) -> torch.Tensor:
        """(test classes,) bool: the test classes sharing at least one name with the training vocabulary (FC-CLIP's
        ``category_overlapping_mask``)."""
        train_names = set(self.classes[True].vocabulary.names)
        return torch.tensor([not train_names.isdisjoint(names) for names in self.classes[False].vocabulary.classes])

    def classifier(self) -> Tuple[torch.Tensor, ClassEmbeddings]:
        """The (names + 1, embed_dim) classifier rows, the text embeddings then the normalised void embedding, and
        the classes they belong to."""
        classes = self.classes[self.training]
        void = F.normalize(self.void_embedding.weight, dim=-1)
        return torch.cat([classes.embeddings.to(void), void]), classes

    def class_logits(self, embeddings: torch.Tensor, logit_scale: torch.Tensor) -> torch.Tensor:
        """(B, Q, classes + 1) logits of (B, Q, embed_dim) embeddings: scaled cosines, best synonym per class, the
        void column last."""
        rows, classes = self.classifier()
        embeddings = F.normalize(embeddings, dim=-1)
        logits = (logit_scale.exp().clamp(max=100) * embeddings) @ rows.t().to(embeddings)
        return per_class_logits(logits, classes)

    # ---- training targets --------------------------------------------------------------------------------------
    def _seg_data_to_instance_data(self, batch_data_samples):
        """The mask targets: one per segment where the samples carry panoptic segments (``gt_segments`` and
        ``segment_labels``, from ``LoadPanopticAnnotations``: one mask per instance, as the reference trains), else
        one per class of the semantic map (mmseg's). Segments of classes outside the training vocabulary are
        dropped; a segment with no pixel left (cropped out) is an empty mask, as the reference's dataset mapper makes
        one of every non-crowd segment after the crop, matched and supervised like the others."""
        if not all('gt_segments' in sample for sample in batch_data_samples):
            return super()._seg_data_to_instance_data(batch_data_samples)
        batch_gt_instances, batch_img_metas = [], []
        for sample in batch_data_samples:
            segments = sample.gt_segments.data[0]
            # mmcv's Pad and the data preprocessor pad the label map (bottom and right) but not the segments
            height, width = sample.gt_sem_seg.data.shape[-2:]
            segments = F.pad(segments, (0, width - segments.shape[1], 0, height - segments.shape[0]),
                             value=NO_SEGMENT)
            labels = torch.as_tensor(sample.metainfo['segment_labels'], device=segments.device)
            trained = [index for index in range(len(labels)) if labels[index] != self.ignore_index]
            masks = torch.stack([segments == index for index in trained]).long() if trained else \
                segments.new_zeros((0, *segments.shape))
            batch_gt_instances.append(InstanceData(labels=labels[trained], masks=masks))
            batch_img_metas.append(sample.metainfo)
        return batch_gt_instances, batch_img_metas

    # ---- forward -----------------------------------------------------------------------------------------------
    def forward(self, inputs: tuple, batch_data_samples=None) -> Tuple[List[torch.Tensor], List[torch.Tensor]]:
        """Class logits (B, Q, classes + 1) and mask logits (B, Q, H/4, W/4) of the learnable queries and of every
        decoder layer, from ``(CLIP's stage maps, CLIP's pooled-vector head)``."""
        maps, _ = inputs
        return super().forward(list(maps), batch_data_samples)

    def _forward_head(self, decoder_out: torch.Tensor, mask_feature: torch.Tensor,
                      attn_mask_target_size: Tuple[int, int]) -> Tuple[torch.Tensor, ...]:
        decoder_out = self.transformer_decoder.post_norm(decoder_out)
        mask_pred = torch.einsum('bqc,bchw->bqhw', self.mask_embed(decoder_out), mask_feature)
        pooled = self.mask_pooling_proj(mask_pool(mask_feature, mask_pred))
        cls_pred = self.class_logits(self.class_embed(pooled + decoder_out), self.logit_scale)
        attn_mask = F.interpolate(mask_pred, attn_mask_target_size, mode='bilinear', align_corners=False)
        attn_mask = attn_mask.flatten(2).unsqueeze(1).repeat((1, self.num_heads, 1, 1)).flatten(0, 1)
        return cls_pred, mask_pred, (attn_mask.sigmoid() < 0.5).detach()

    def out_of_vocabulary_logits(self, clip_map: torch.Tensor, mask_logits: torch.Tensor, clip_head) -> torch.Tensor:
        """(B, Q, classes + 1) logits of the frozen CLIP's last-stage map mean-pooled inside the binarised masks."""
        embeddings = clip_head(mask_pool(clip_map, mask_logits))
        return self.class_logits(embeddings, self.clip_logit_scale.log())

    def geometric_ensemble(self, in_logits: torch.Tensor, out_logits: torch.Tensor) -> torch.Tensor:
        """FC-CLIP's ensemble of in- and out-of-vocabulary logits → log-probabilities (B, Q, classes + 1)."""
        in_probs = in_logits[..., :-1].softmax(dim=-1)
        out_probs = out_logits[..., :-1].softmax(dim=-1)
        seen = self.seen_classes().to(in_probs)
        ensembled = ((in_probs ** (1 - self.alpha) * out_probs ** self.alpha).log() * seen
                     + (in_probs ** (1 - self.beta) * out_probs ** self.beta).log() * (1 - seen))
        void = in_logits.softmax(dim=-1)[..., -1:]
        probs = torch.cat([ensembled.softmax(dim=-1) * (1 - void), void], dim=-1)
        return torch.log(probs + 1e-8)

    def predict(self, inputs: tuple, batch_img_metas: List[dict], test_cfg):
        """``'padded'``: the class scores at the padded input size. ``'original'``: the last layer's mask logits
        resized to the padded input and the ensembled class logits, for the segmentor to combine per image."""
        maps, clip_head = inputs
        class_logits, mask_logits = self.forward(inputs, None)
        out_logits = self.out_of_vocabulary_logits(maps[-1], mask_logits[-1], clip_head)
        class_logits = self.geometric_ensemble(class_logits[-1], out_logits)
        padded_size = [4 * side for side in maps[0].shape[-2:]]  # the stride-4 map covers the padded input
        mask_logits = F.interpolate(mask_logits[-1], size=padded_size, mode='bilinear', align_corners=False)
        if mask_combine(test_cfg) == 'padded':
            return semantic_scores(mask_logits, class_logits)
        return mask_logits, class_logits
