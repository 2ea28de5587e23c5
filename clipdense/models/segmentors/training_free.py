from typing import List, Optional, Sequence, Tuple, Union

import torch
import torch.nn.functional as F
from mmengine.structures import PixelData
from mmseg.models.segmentors import BaseSegmentor
from mmseg.structures import SegDataSample

from clipdense.models.clip import ClassEmbeddings, DenseCLIPVision
from clipdense.models.utils import OpenVocabularyMixin, SlidingWindow, build_clip_and_text
from clipdense.ops import resize_bilinear
from clipdense.registry import MODELS
from clipdense.utils.precision import full_precision

from .postprocess import label_map, names_to_class_probs, suppress_small_classes, unflip

WINDOW_PADDINGS = (None, 'center', 'corner')


@MODELS.register_module()
class TrainingFreeSegmentor(OpenVocabularyMixin, BaseSegmentor):
    """Open-vocabulary segmentation from a frozen CLIP: MaskCLIP, SCLIP, ClearCLIP, NACLIP and their kin.

    A method is a last-block variant plus the values of this class's arguments; everything else is shared:

    1. windows (``slide`` on mmseg's grid, or ``whole`` = one window per image), all windows of a batch in
       one backbone call per ``windows_per_batch``;
    2. per window: optional zero padding to a multiple of the patch (``window_padding``: ``'center'`` pads
       both sides and crops the logits back, as ClearCLIP; ``'corner'`` pads bottom/right and squeezes the
       padded logits into the window, as MaskCLIP; ``None`` lets the patch grid drop the remainder and
       stretches, as SCLIP/NACLIP); cosine logits of every name, optionally refined on the patch grid
       (``window_refinement``, e.g. MaskCLIP's key smoothing), bilinearly resized to the window;
    3. windows averaged per pixel, resized to the original image;
    4. optional refinement (PAMR) of the cosine logits, guided by the normalised image;
    5. ``softmax(logit_scale · cos)`` over all names, max over each class's synonyms, optional area threshold,
       argmax, and pixels below ``prob_thd`` sent to the background class.

    Predictions: ``pred_sem_seg`` holds the labels and ``seg_logits`` the class **probabilities** at the original
    image size (after the synonym maximum and the area threshold; renormalised to sum to one with
    ``renormalize``). Flipped inputs (``flip`` in the meta, mmseg's test-time augmentation) are flipped back first.

    Args:
        clip: ``dict(name=..., pretrained=...)`` (see ``build_clip``).
        vocabulary: class names (file, list, or ``"a;synonym,b"``); line/item ``i`` is label ``i``.
        last_block: config of the last-block variant (``dict(type='SCLIPLastBlock')`` ...); ``None`` keeps
            CLIP's block.
        templates: prompt templates (``'imagenet80'``, ``'maskclip85'`` or a list).
        pos_interpolation: ``'offset'`` (SCLIP family) or ``'exact'`` (MaskCLIP).
        mode: ``'slide'`` or ``'whole'``.
        crop_size, stride: windows of ``slide`` mode.
        window_padding: see 2. above.
        logit_scale: softmax temperature on the cosines.
        prob_thd: pixels whose best class probability is lower become ``background_class``.
        area_thd: SCLIP's relative area threshold (needs ``background_class``).
        background_class: label of the background class, or ``None`` for vocabularies without one (then
            ``prob_thd`` and ``area_thd`` are refused: they would relabel pixels as a real class).
        window_refinement: config of a module called as ``refine(cosine, keys)`` on each window's patch-grid
            logits (``MaskCLIPRefinement``).
        refinement: config of a refinement module called as ``refine(guide, cosine)`` on the logits at the
            original size (``PAMR``).
        renormalize: divide the returned class probabilities by their sum (NACLIP); labels are unchanged.
        windows_per_batch: most windows per backbone call.
        text_cache_dir: where encoded vocabularies are cached (``None``: no disk cache).
        precision: ``'fp32'`` (exact), ``'bf16'`` or ``'fp16'``: the format CLIP runs in at inference
            (``clipdense.utils.precision``); the probabilities and refinements stay fp32.
    """

    def __init__(self, clip: dict, vocabulary, last_block: Optional[dict] = None,
                 templates: Union[str, Sequence[str]] = 'imagenet80', pos_interpolation: str = 'offset',
                 mode: str = 'slide', crop_size: Union[int, Tuple[int, int]] = 224,
                 stride: Union[int, Tuple[int, int]] = 112, window_padding: Optional[str] = None,
                 logit_scale: float = 40.0, prob_thd: float = 0.0, area_thd: Optional[float] = None,
                 background_class: Optional[int] = None, window_refinement: Optional[dict] = None,
                 refinement: Optional[dict] = None,
                 renormalize: bool = False, windows_per_batch: int = 64,
                 text_cache_dir: Optional[str] = 'default', data_preprocessor: Optional[dict] = None,
                 precision: str = 'fp32', init_cfg=None):
        super().__init__(data_preprocessor=data_preprocessor, init_cfg=init_cfg)
        if mode not in ('slide', 'whole'):
            raise ValueError(f"mode must be 'slide' or 'whole', got {mode!r}")
        if window_padding not in WINDOW_PADDINGS:
            raise ValueError(f'window_padding must be one of {WINDOW_PADDINGS}, got {window_padding!r}')
        if background_class is None and (prob_thd > 0 or area_thd is not None):
            raise ValueError('prob_thd and area_thd relabel pixels as the background class, but '
                             'background_class is None (this vocabulary has no background). Set '
                             'background_class=0 if label 0 is background, or drop prob_thd/area_thd.')
        clip_model, text_classifier = build_clip_and_text(clip, templates, text_cache_dir, precision=precision)
        clip_model.requires_grad_(False)
        variant = MODELS.build(last_block) if last_block is not None else None
        self.encoder = DenseCLIPVision(clip_model.visual, last_block=variant,
                                       pos_interpolation=pos_interpolation)
        self.mode = mode
        self.sliding_window = SlidingWindow(crop_size, stride, windows_per_batch) if mode == 'slide' else None
        self.window_padding = window_padding
        self.logit_scale = logit_scale
        self.prob_thd = prob_thd
        self.area_thd = area_thd
        self.background_class = background_class
        self.window_refinement = MODELS.build(window_refinement) if window_refinement is not None else None
        self.refinement = MODELS.build(refinement) if refinement is not None else None
        self.renormalize = renormalize
        self.init_vocabularies(text_classifier, vocabulary)

    def apply_vocabulary(self, classes: ClassEmbeddings, training: bool) -> None:
        if training:  # nothing is trained
            return
        device = next(self.encoder.parameters()).device  # the text tower is not moved with the model
        self.register_buffer('name_embeddings', classes.embeddings.to(device), persistent=False)
        self.register_buffer('name_to_class', classes.name_to_class.to(device), persistent=False)

    # ---- logits -------------------------------------------------------------------------------------
    def window_padding_of(self, height: int, width: int) -> Tuple[int, int, int, int]:
        """Zero padding (left, right, top, bottom) of a window of ``height`` × ``width`` (see 2. above)."""
        if self.window_padding is None:
            return (0, 0, 0, 0)
        patch = self.encoder.patch_size
        pad_h, pad_w = -height % patch, -width % patch
        top, left = (pad_h // 2, pad_w // 2) if self.window_padding == 'center' else (0, 0)
        return (left, pad_w - left, top, pad_h - top)

    def window_scores(self, windows: torch.Tensor) -> torch.Tensor:
        """Cosine logits (N, num_names, h', w') on the patch grid of same-sized windows (N, 3, h, w), class-major
        (as the references' maps, which they resize)."""
        windows = F.pad(windows, self.window_padding_of(*windows.shape[-2:]))
        encoded = self.encoder(windows, keys=self.window_refinement is not None)
        # Under a bf16/fp16 precision only the tower is lowered: the cosine with the text (a small share of the
        # cost) and the refinements stay fp32, which keeps the labels close to fp32's.
        with full_precision(windows.device):
            features = F.normalize(encoded.dense.float(), dim=1)
            cosine = torch.einsum('ndhw,qd->nqhw', features, self.name_embeddings.float())
            if self.window_refinement is not None:
                cosine = self.window_refinement(cosine, encoded.keys.float())
        return cosine.contiguous()

    def to_window(self, scores: torch.Tensor, size: Tuple[int, int],
                  add_to: Optional[torch.Tensor] = None) -> torch.Tensor:
        """Patch-grid logits (N, C, h', w') of windows of ``size`` resized to it: the padded window's logits are
        cropped back (``'center'``) or squeezed into the window (``'corner'``, ``None``); added into ``add_to``
        when given."""
        height, width = size
        left, right, top, bottom = self.window_padding_of(height, width)
        if self.window_padding == 'center':
            return resize_bilinear(scores, (height + top + bottom, width + left + right),
                                   (top, left, height, width), add_to)
        return resize_bilinear(scores, size, add_to=add_to)

    def window_cosine(self, windows: torch.Tensor) -> torch.Tensor:
        """Cosine logits (N, num_names, h, w) of same-sized windows (N, 3, h, w)."""
        return self.to_window(self.window_scores(windows), windows.shape[-2:])

    def image_cosine(self, inputs: torch.Tensor, shapes: List[Tuple[int, int]]) -> List[torch.Tensor]:
        """Per image, cosine logits (num_names, h_i, w_i) on its network input."""
        if self.mode == 'slide':
            return self.sliding_window(inputs, shapes, self.window_scores, self.to_window)
        return [self.window_cosine(inputs[index:index + 1, :, :height, :width])[0]
                for index, (height, width) in enumerate(shapes)]

    # ---- mmseg interface ----------------------------------------------------------------------------
    def predict(self, inputs: torch.Tensor, data_samples: Optional[List[SegDataSample]] = None):
        if data_samples is None:
            data_samples = [SegDataSample(metainfo=dict(img_shape=inputs.shape[2:], ori_shape=inputs.shape[2:]))
                            for _ in range(inputs.shape[0])]
        shapes = [tuple(sample.img_shape) for sample in data_samples]
        cosines = self.image_cosine(inputs, shapes)
        for index, (sample, cosine) in enumerate(zip(data_samples, cosines)):
            ori_shape = tuple(sample.ori_shape)
            height, width = shapes[index]
            guide = inputs[index:index + 1, :, :height, :width]
            cosine, guide = unflip(cosine[None], sample), unflip(guide, sample)
            cosine = resize_bilinear(cosine, ori_shape)
            if self.refinement is not None:
                with full_precision(cosine.device):
                    cosine = self.refinement(resize_bilinear(guide, ori_shape).float(), cosine.float())
            probs = names_to_class_probs(cosine[0].float(), self.name_to_class, len(self.vocabulary),
                                         self.logit_scale)  # spends the maps: they are ours
            if self.area_thd is not None:
                probs = suppress_small_classes(probs, self.area_thd, self.background_class)
            labels = label_map(probs, self.prob_thd, self.background_class)
            if self.renormalize:
                probs = probs.div_(probs.sum(dim=0, keepdim=True))
            sample.set_data(dict(seg_logits=PixelData(data=probs), pred_sem_seg=PixelData(data=labels)))
        return data_samples

    def vision_tower(self) -> DenseCLIPVision:
        return self.encoder

    def _forward(self, inputs, data_samples=None):
        shapes = [tuple(inputs.shape[2:])] * inputs.shape[0]
        return torch.stack(self.image_cosine(inputs, shapes))

    def extract_feat(self, inputs):
        return self.encoder(inputs).dense

    def encode_decode(self, inputs, batch_data_samples):
        return self._forward(inputs)

    def loss(self, inputs, data_samples):
        raise RuntimeError(f'{type(self).__name__} is training-free: there is nothing to train. Use '
                           'tools/test.py (or a trained method) instead of tools/train.py.')
