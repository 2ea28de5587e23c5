"""ZegCLIP's decoder: class queries from text and image, cross-attention to the patches, masks from attention."""
import copy
from typing import List, Optional, Tuple

import torch
import torch.nn.functional as F
from mmseg.models.decode_heads.decode_head import BaseDecodeHead
from torch import nn

from clipdense.models.clip import ClassEmbeddings, max_over_synonyms
from clipdense.registry import MODELS


class ScoredCrossAttention(nn.Module):
    """Multi-head cross-attention that also returns its pre-softmax scores averaged over heads (ZegCLIP's masks).

    ``q``, ``k``, ``v`` and ``proj`` are Linear layers with bias (the reference's names); attention dropout on the
    softmax, none on the output.
    """

    def __init__(self, dim: int, num_heads: int, attn_drop: float):
        super().__init__()
        self.num_heads = num_heads
        self.scale = (dim // num_heads) ** -0.5
        self.q, self.k, self.v, self.proj = (nn.Linear(dim, dim) for _ in range(4))
        self.attn_drop = nn.Dropout(attn_drop)

    def scores(self, queries: torch.Tensor, memory: torch.Tensor) -> torch.Tensor:
        """Scaled q·kᵀ per head (B, heads, N, M) of queries (B, N, C) against memory (B, M, C)."""
        q = self._split(self.q(queries))
        k = self._split(self.k(memory))
        return q @ k.transpose(-2, -1) * self.scale

    def forward(self, queries: torch.Tensor, memory: torch.Tensor) -> Tuple[torch.Tensor, torch.Tensor]:
        scores = self.scores(queries, memory)
        attention = self.attn_drop(scores.softmax(dim=-1))
        out = (attention @ self._split(self.v(memory))).transpose(1, 2).flatten(2)
        return self.proj(out), scores.mean(dim=1)

    def _split(self, x: torch.Tensor) -> torch.Tensor:
        batch, length, channels = x.shape
        return x.view(batch, length, self.num_heads, channels // self.num_heads).transpose(1, 2)


class ZegCLIPDecoderLayer(nn.Module):
    """Post-norm cross-attention (no self-attention) and a ReLU FFN; returns the updated queries and the layer's
    head-averaged attention scores."""

    def __init__(self, dim: int, num_heads: int, ffn_dim: int, dropout: float):
        super().__init__()
        self.cross_attn = ScoredCrossAttention(dim, num_heads, attn_drop=dropout)
        self.norm2 = nn.LayerNorm(dim)
        self.linear1 = nn.Linear(dim, ffn_dim)
        self.linear2 = nn.Linear(ffn_dim, dim)
        self.norm3 = nn.LayerNorm(dim)
        self.dropout, self.dropout2, self.dropout3 = (nn.Dropout(dropout) for _ in range(3))

    def forward(self, queries: torch.Tensor, memory: torch.Tensor) -> Tuple[torch.Tensor, torch.Tensor]:
        attended, scores = self.cross_attn(queries, memory)
        queries = self.norm2(queries + self.dropout2(attended))
        queries = self.norm3(queries + self.dropout3(self.linear2(self.dropout(F.relu(self.linear1(queries))))))
        return queries, scores


@MODELS.register_module()
class ZegCLIPHead(BaseDecodeHead):
    """ZegCLIP's head (ZiqinZhou66/ZegCLIP ``ATMSingleHeadSeg``) on a ``DeepPromptCLIPViT``'s ``(patches, cls)``.

    Per class (per name of the vocabulary, best synonym kept): the relationship descriptor
    ``q = Linear(2D→D)([t ⊙ g ; t])`` with t the name's text embedding and g the image's class-token embedding;
    ``num_layers`` decoder layers of cross-attention to the (normalised) patch embeddings; the mask logits are the
    **last** layer's pre-softmax attention scores averaged over heads, on the patch grid (bilinearly upsampled to
    the input size by mmseg's prediction and loss steps). The last layer's value path, output projection and FFN
    never reach an output, so they are not run. The reference builds its layers as ``nn.TransformerDecoderLayer`` whose self-attention and ``norm1`` its
    forward never uses; they are not built here (10,666,240 trainable parameters with the VOC prompts instead of the
    reference's 13,821,184, see configs/zegclip/README.md), and the converter drops them. Layers start as copies of
    one layer, as in the reference.

    Training classifies against the training vocabulary (``self.training``), evaluation against the test one.

    Args:
        embed_dim: CLIP's joint-space dimension (queries, keys and the decoder width).
        num_layers, num_heads, ffn_dim, dropout: the decoder's.
        loss_decode: ZegCLIP's losses (``MaskFocalLoss`` ×100, ``MaskDiceLoss`` ×1).
    """

    def __init__(self, embed_dim: int = 512, num_layers: int = 3, num_heads: int = 8, ffn_dim: int = 2048,
                 dropout: float = 0.1, **kwargs):
        kwargs.setdefault('in_channels', embed_dim)
        kwargs.setdefault('channels', embed_dim)
        super().__init__(**kwargs)
        del self.conv_seg  # masks come from attention, not from a per-class convolution
        self.q_proj = nn.Linear(2 * embed_dim, embed_dim)
        layer = ZegCLIPDecoderLayer(embed_dim, num_heads, ffn_dim, dropout)
        self.layers = nn.ModuleList(copy.deepcopy(layer) for _ in range(num_layers))
        self.classes = {}
        self.pseudo_label_classes: Optional[torch.Tensor] = None

    def init_weights(self):
        """PyTorch's default initialisation of each layer, as the reference trains from (its ``init_weights``
        is never called)."""

    def set_class_embeddings(self, classes: ClassEmbeddings, training: bool = False) -> None:
        """Classify against ``classes`` in training (``training=True``) or at test time."""
        self.classes[training] = classes
        if not training:
            self.num_classes = self.out_channels = classes.num_classes

    def forward(self, inputs: Tuple[torch.Tensor, torch.Tensor]) -> torch.Tensor:
        """Mask logits (B, classes, h, w) on the patch grid from ``(patches, cls)``; mmseg's ``predict_by_feat`` and
        ``loss_by_feat`` upsample them bilinearly to the input (as the reference upsamples to its 512 crops)."""
        patches, cls = inputs
        classes = self.classes[self.training]
        text = classes.embeddings.to(patches)
        batch, _, height, width = patches.shape
        queries = self.q_proj(torch.cat([text[None] * cls[:, None], text[None].expand(batch, -1, -1)], dim=-1))
        memory = patches.flatten(2).transpose(1, 2)
        for layer in self.layers[:-1]:
            queries, _ = layer(queries, memory)
        masks = self.layers[-1].cross_attn.scores(queries, memory).mean(dim=1)
        masks = masks.view(batch, -1, height, width)
        return max_over_synonyms(masks, classes.name_to_class.to(masks.device), classes.num_classes)

    def loss(self, inputs, batch_data_samples, train_cfg) -> dict:
        seg_logits = self.forward(inputs)
        if self.pseudo_label_classes is not None:
            self.pseudo_label(seg_logits, batch_data_samples)
        return self.loss_by_feat(seg_logits, batch_data_samples)

    @torch.no_grad()
    def pseudo_label(self, seg_logits: torch.Tensor, batch_data_samples: List) -> None:
        """Transductive ZegCLIP: pixels labelled with a ``pseudo_label_classes`` class take the best-scoring of those
        classes (from this very forward pass), since their true identity is not to be used."""
        unseen = self.pseudo_label_classes.to(seg_logits.device)
        for logits, sample in zip(seg_logits, batch_data_samples):
            labels = sample.gt_sem_seg.data
            logits = F.interpolate(logits[None], size=labels.shape[-2:], mode='bilinear',
                                   align_corners=self.align_corners)[0]
            best = unseen[logits[unseen].argmax(dim=0, keepdim=True)]
            sample.gt_sem_seg.data = torch.where(torch.isin(labels, unseen), best.to(labels.dtype), labels)
