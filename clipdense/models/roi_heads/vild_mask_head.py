"""ViLD's mask head: tensorflow/tpu's ``MaskrcnnHead`` (``modeling/architecture/heads.py``) on mmdet's
``FCNMaskHead``, its masks pasted as the reference's evaluation pastes them."""
import cv2
import numpy as np
import torch
from mmcv.cnn import build_norm_layer
from mmdet.models.roi_heads.mask_heads import FCNMaskHead
from mmengine.config import ConfigDict

from clipdense.registry import MODELS


@MODELS.register_module()
class ViLDMaskHead(FCNMaskHead):
    """mmdet's ``FCNMaskHead`` with the reference's batch norm between the deconvolution (``conv5-mask``) and its
    ReLU; the convolutions, their norms, the deconvolution and the logits are mmdet's. Predicted masks are pasted
    into the image as the reference's evaluation does (``paste_mask``), not by mmdet's grid sampling."""

    def __init__(self, **kwargs):
        super().__init__(**kwargs)
        if self.upsample_method != 'deconv' or not self.norm_cfg:
            raise ValueError('ViLDMaskHead normalises its deconvolution: it needs upsample_cfg type "deconv" and a '
                             f'norm_cfg (got {self.upsample_method!r} and {self.norm_cfg!r}); use mmdet.FCNMaskHead '
                             'for a head without them')
        self.upsample_norm = build_norm_layer(self.norm_cfg, self.conv_out_channels)[1]

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        for conv in self.convs:
            x = conv(x)
        return self.conv_logits(self.relu(self.upsample_norm(self.upsample(x))))

    def _predict_by_feat_single(self, mask_preds: torch.Tensor, bboxes: torch.Tensor, labels: torch.Tensor,
                                img_meta: dict, rcnn_test_cfg: ConfigDict, rescale: bool = False,
                                activate_map: bool = False) -> torch.Tensor:
        """Boolean (N, H, W) masks of the detections ``bboxes`` (network-input pixels; with ``rescale`` scaled in
        place to the original image, as mmdet's head does), each mask its probabilities pasted by ``paste_mask``."""
        if rcnn_test_cfg.mask_thr_binary < 0:
            return super()._predict_by_feat_single(mask_preds, bboxes, labels, img_meta, rcnn_test_cfg, rescale,
                                                   activate_map)
        probabilities = mask_preds if activate_map else mask_preds.sigmoid()
        if not self.class_agnostic:
            probabilities = probabilities[range(len(probabilities)), labels]
        else:
            probabilities = probabilities[:, 0]
        scale_factor = bboxes.new_tensor(img_meta['scale_factor']).repeat(2)
        img_h, img_w = img_meta['ori_shape'][:2]
        if rescale:
            bboxes /= scale_factor
        else:
            img_h, img_w = (int(np.round(img_h * scale_factor[1].item())),
                            int(np.round(img_w * scale_factor[0].item())))
        masks = np.zeros((len(bboxes), img_h, img_w), bool)
        probabilities = probabilities.detach().float().cpu().numpy()
        corners = paste_boxes(bboxes.detach().float().cpu().numpy(), probabilities.shape[1:])
        for mask, box, probability in zip(masks, corners, probabilities):
            paste_mask(mask, probability, box, rcnn_test_cfg.mask_thr_binary)
        return torch.from_numpy(masks).to(bboxes.device)


def paste_boxes(boxes: np.ndarray, mask_shape) -> np.ndarray:
    """Integer corners (N, 4) where tensorflow/tpu's ``paste_instance_masks`` (``utils/mask_utils.py``, Detectron
    v1's) pastes (M, M) masks zero-padded by a pixel for float32 ``boxes`` (x1, y1, x2, y2): each box widened around
    its centre by (M + 2) / M, in float32 as the reference computes it, and truncated."""
    mask_h, mask_w = mask_shape
    scale = max((mask_w + 2.0) / mask_w, (mask_h + 2.0) / mask_h)
    boxes = boxes.astype(np.float32)
    half_w, half_h = (boxes[:, 2] - boxes[:, 0]) * .5, (boxes[:, 3] - boxes[:, 1]) * .5
    centre_x, centre_y = boxes[:, 0] + half_w, boxes[:, 1] + half_h
    half_w, half_h = half_w * scale, half_h * scale
    return np.stack([centre_x - half_w, centre_y - half_h, centre_x + half_w, centre_y + half_h], 1).astype(np.int32)


def paste_mask(canvas: np.ndarray, probabilities: np.ndarray, corners: np.ndarray, threshold: float) -> None:
    """Paste one (M, M) mask of probabilities into the boolean ``canvas`` at ``corners`` (``paste_boxes``) as the
    reference does: the mask zero-padded by a pixel, resized to the corners (sides x2 - x1 + 1, at least 1) with
    OpenCV's bilinear resize, thresholded (> ``threshold``) and cropped to the canvas."""
    x1, y1, x2, y2 = (int(corner) for corner in corners)
    padded = np.zeros((probabilities.shape[0] + 2, probabilities.shape[1] + 2), np.float32)
    padded[1:-1, 1:-1] = probabilities
    resized = cv2.resize(padded, (max(x2 - x1 + 1, 1), max(y2 - y1 + 1, 1))) > threshold
    height, width = canvas.shape
    left, right = min(max(x1, 0), width), min(max(x2 + 1, 0), width)
    top, bottom = min(max(y1, 0), height), min(max(y2 + 1, 0), height)
    canvas[top:bottom, left:right] = resized[top - y1:bottom - y1, left - x1:right - x1]
