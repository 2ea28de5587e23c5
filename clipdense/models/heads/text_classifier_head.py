import torch
import torch.nn.functional as F
from mmcv.cnn import ConvModule
from mmseg.models.decode_heads.decode_head import BaseDecodeHead
from torch import nn

from clipdense.models.clip import ClassEmbeddings, max_over_synonyms
from clipdense.registry import MODELS


@MODELS.register_module()
class TextClassifierHead(BaseDecodeHead):
    """A decode head that classifies pixels by cosine similarity with CLIP text embeddings.

    ``num_convs`` 3×3 convolutions refine the selected feature map, ``conv_seg`` projects it into CLIP's
    joint space (``embed_dim``), and each class scores ``logit_scale · cos`` with its best-matching name
    (max over synonyms). The class embeddings are set by the segmentor from its vocabularies, so the
    vocabulary can change after training: the training loop (``self.training``) classifies against the training
    vocabulary, evaluation against the test vocabulary (``num_classes``/``out_channels`` are the test ones).

    Args:
        embed_dim: dimension of CLIP's joint space.
        num_convs: refining convolutions before the projection.
        logit_scale: initial temperature; learnable when ``learn_logit_scale``.
    """

    def __init__(self, embed_dim: int, num_convs: int = 1, logit_scale: float = 50.0,
                 learn_logit_scale: bool = True, **kwargs):
        kwargs.setdefault('init_cfg', dict(type='Normal', std=0.01, override=dict(name='conv_seg')))
        super().__init__(**kwargs)
        self.convs = nn.Sequential(*[
            ConvModule(self.in_channels if i == 0 else self.channels, self.channels, 3, padding=1,
                       conv_cfg=self.conv_cfg, norm_cfg=self.norm_cfg, act_cfg=self.act_cfg)
            for i in range(num_convs)
        ])
        self.conv_seg = nn.Conv2d(self.channels, embed_dim, kernel_size=1)
        log_scale = torch.tensor(float(logit_scale)).log()
        self.log_logit_scale = nn.Parameter(log_scale, requires_grad=learn_logit_scale)
        self.classes = {}

    def set_class_embeddings(self, classes: ClassEmbeddings, training: bool = False) -> None:
        """Classify against ``classes`` in training (``training=True``) or at test time."""
        self.classes[training] = classes
        if not training:
            self.num_classes = self.out_channels = classes.num_classes

    def cls_seg(self, feat: torch.Tensor) -> torch.Tensor:
        if self.dropout is not None:
            feat = self.dropout(feat)
        embedded = F.normalize(self.conv_seg(feat), dim=1)
        classes = self.classes[self.training]
        name_logits = torch.einsum('bchw,nc->bnhw', embedded, classes.embeddings.to(embedded))
        scores = max_over_synonyms(name_logits, classes.name_to_class.to(embedded.device), classes.num_classes)
        return self.log_logit_scale.exp() * scores

    def forward(self, inputs):
        return self.cls_seg(self.convs(self._transform_inputs(inputs)))
