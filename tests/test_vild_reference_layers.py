"""ViLD's ResNet stem, anchors, FPN, RPN head, RoI crops, box losses, box coder and mask head as tensorflow/tpu's:
outputs computed by hand from the layers' weights, and losses from the reference's Huber definition and
normalisers."""
import pytest
import torch
import torch.nn.functional as F
from mmengine.config import Config, ConfigDict

from tool_runs import ROOT

BASE = f'{ROOT}/configs/_base_/models/vild_r50_fpn.py'


@pytest.fixture(scope='module')
def registries():
    from clipdense.registry import register_all_modules
    register_all_modules()
    from clipdense.registry import MODELS
    return MODELS


def huber(error: torch.Tensor, delta: float) -> torch.Tensor:
    """tf.losses.huber_loss's elementwise term."""
    error = error.abs()
    return torch.where(error <= delta, 0.5 * error**2, delta * (error - 0.5 * delta))


def randomise_norms(module: torch.nn.Module) -> None:
    """Distinct running statistics and affine parameters in every batch norm, read in eval mode."""
    for norm in module.modules():
        if isinstance(norm, torch.nn.modules.batchnorm._BatchNorm):
            norm.running_mean.uniform_(-1, 1)
            norm.running_var.uniform_(0.5, 2)
            norm.weight.data.uniform_(0.5, 1.5)
            norm.bias.data.uniform_(-0.5, 0.5)
    module.eval()


def tf_same_stride2_conv(x: torch.Tensor, conv: torch.nn.Conv2d) -> torch.Tensor:
    """A 3x3 stride-2 convolution with TensorFlow's "same" padding written out: the padding is k - s = 1 on an
    even side, all after; k - 1 = 2 on an odd side, split 1/1."""
    pad_h = 1 if x.shape[-2] % 2 == 0 else 2
    pad_w = 1 if x.shape[-1] % 2 == 0 else 2
    x = F.pad(x, [pad_w // 2, pad_w - pad_w // 2, pad_h // 2, pad_h - pad_h // 2])
    return F.conv2d(x, conv.weight, conv.bias, stride=2)


@pytest.mark.parametrize('side', [32, 40, 48])  # P5 sides 4, 5 and 6: even and odd P6 padding
@pytest.mark.parametrize('num_outs', [5, 6])
def test_vild_fpn_is_the_reference_fpn(registries, side, num_outs):
    torch.manual_seed(0)
    fpn = registries.build(dict(type='ViLDFPN', in_channels=[4, 8, 16, 32], out_channels=8, num_outs=num_outs,
                                norm_cfg=dict(type='BN', eps=1e-4)))
    fpn.init_weights()
    randomise_norms(fpn)
    inputs = [torch.randn(2, channels, side // 2**level, side // 2**level)
              for level, channels in enumerate([4, 8, 16, 32])]
    with torch.no_grad():
        outs = fpn(inputs)
        laterals = [conv(x) for conv, x in zip(fpn.lateral_convs, inputs)]
        top_down = [laterals[3]]
        for level in (2, 1, 0):  # nearest x2 on exactly halved maps
            top_down.insert(0, laterals[level] + top_down[0].repeat_interleave(2, -1).repeat_interleave(2, -2))
        expected = [conv(x) for conv, x in zip(fpn.output_convs, top_down)]
        expected.append(tf_same_stride2_conv(expected[3], fpn.extra_convs[0]))  # P6 from P5 before its norm
        if num_outs == 6:
            expected.append(tf_same_stride2_conv(F.relu(expected[4]), fpn.extra_convs[1]))  # P7 after a ReLU
        expected = [F.batch_norm(x, norm.running_mean, norm.running_var, norm.weight, norm.bias, eps=1e-4)
                    for x, norm in zip(expected, fpn.norms)]
    assert len(outs) == num_outs
    for out, reference in zip(outs, expected):
        torch.testing.assert_close(out, reference, rtol=1e-5, atol=1e-5)
    assert outs[4].shape[-1] == -(-side // 16)  # ceil, as TF's "same"


@pytest.mark.parametrize('height, width', [(8, 8), (9, 7), (10, 11)])
def test_same_padding_max_pool_is_tensorflows(height, width):
    """Each output is the maximum over TF's window: ceil(n / 2) outputs, window i starting at 2i - pad_before with
    pad_before = (max((out - 1) * 2 + 3 - n, 0)) // 2 (0 on an even side, where torch's padding 1 starts at 2i - 1)."""
    from clipdense.models.backbones.vild_resnet import SamePaddingMaxPool2d
    x = torch.randn(2, 3, height, width)
    pooled = SamePaddingMaxPool2d(kernel_size=3, stride=2)(x)

    def windows(size):
        out = -(-size // 2)
        before = max((out - 1) * 2 + 3 - size, 0) // 2
        return [range(max(2 * i - before, 0), min(2 * i - before + 3, size)) for i in range(out)]

    expected = torch.stack([torch.stack([x[:, :, list(rows)][..., list(cols)].amax(dim=(-2, -1))
                                         for cols in windows(width)], -1) for rows in windows(height)], -2)
    assert torch.equal(pooled, expected)
    if height % 2 == 0 and width % 2 == 0:
        assert not torch.equal(pooled, F.max_pool2d(x, 3, 2, padding=1))


def test_vild_resnet_has_the_references_stem_pool_and_norm_scales(registries):
    backbone = registries.build(dict(type='ViLDResNet', depth=18, base_channels=8, out_indices=(0, 1, 2, 3)))
    backbone.init_weights()
    from clipdense.models.backbones.vild_resnet import SamePaddingMaxPool2d
    assert isinstance(backbone.maxpool, SamePaddingMaxPool2d)
    norms = [m for m in backbone.modules() if isinstance(m, torch.nn.modules.batchnorm._BatchNorm)]
    assert norms and all(torch.equal(norm.weight, torch.ones_like(norm.weight)) for norm in norms)
    backbone.eval()
    x = torch.randn(1, 3, 64, 64)
    stem = backbone.relu(backbone.norm1(backbone.conv1(x)))
    expected = backbone.layer1(F.max_pool2d(F.pad(stem, (0, 1, 0, 1), value=float('-inf')), 3, 2))
    assert torch.allclose(backbone(x)[0], expected)
    with pytest.raises(ValueError, match='deep stem'):
        registries.build(dict(type='ViLDResNet', depth=18, deep_stem=True))


def test_vild_fpn_without_batch_norm_and_bad_levels(registries):
    fpn = registries.build(dict(type='ViLDFPN', in_channels=[4, 8], out_channels=8, num_outs=3, norm_cfg=None))
    assert all(isinstance(norm, torch.nn.Identity) for norm in fpn.norms)
    assert [tuple(out.shape[-2:]) for out in fpn([torch.randn(1, 4, 8, 8), torch.randn(1, 8, 4, 4)])] == \
        [(8, 8), (4, 4), (2, 2)]
    with pytest.raises(ValueError, match='num_outs=1 is fewer than the 2 input levels'):
        registries.build(dict(type='ViLDFPN', in_channels=[4, 8], out_channels=8, num_outs=1))


def build_rpn_head(registries, **overrides):
    cfg = Config.fromfile(BASE).model.rpn_head
    cfg.update(in_channels=8, feat_channels=8, norm_cfg=dict(type='BN', eps=1e-4), **overrides)
    cfg.train_cfg = Config.fromfile(BASE).model.train_cfg.rpn
    torch.manual_seed(0)
    head = registries.build(cfg)
    head.init_weights()
    return head


def test_vild_rpn_head_shares_convs_and_normalises_per_level(registries):
    head = build_rpn_head(registries)
    assert len(head.rpn_convs) == 2 and len(head.level_norms) == 5
    for conv in [*head.rpn_convs, head.rpn_cls, head.rpn_reg]:  # the reference's N(0, 0.01), zero bias
        assert abs(conv.weight.std().item() - 0.01) < 0.004 and not conv.bias.any()
    randomise_norms(head)
    features = torch.randn(1, 8, 6, 6)
    with torch.no_grad():
        cls_scores, bbox_preds = head(tuple(features for _ in range(5)))
        for level in range(5):
            x = features
            for conv, norm in zip(head.rpn_convs, head.level_norms[level]):
                x = F.relu(F.batch_norm(conv(x), norm.running_mean, norm.running_var, norm.weight, norm.bias,
                                        eps=1e-4))
            torch.testing.assert_close(cls_scores[level], head.rpn_cls(x))
            torch.testing.assert_close(bbox_preds[level], head.rpn_reg(x))
    assert cls_scores[0].shape == (1, 3, 6, 6) and bbox_preds[0].shape == (1, 12, 6, 6)
    assert not torch.allclose(cls_scores[0], cls_scores[1])  # same input, the levels' own norms
    with pytest.raises(ValueError, match="4 feature maps: set rpn_head.num_levels to the neck's num_outs"):
        head(tuple(features for _ in range(4)))


def test_vild_rpn_losses_are_the_references(registries):
    """Per level: score loss = sigmoid cross-entropy summed over the sampled anchors / (images x 256); box loss =
    Huber (delta 1/9) summed over the non-zero target coordinates / their number."""
    head = build_rpn_head(registries)
    torch.manual_seed(1)
    images, side = 2, 4
    cls_score = torch.randn(images, 3, side, side)
    bbox_pred = torch.randn(images, 12, side, side) * 0.2
    anchors_per_image = 3 * side * side
    labels = torch.randint(0, 2, (images, anchors_per_image))  # 0 foreground, 1 background (mmdet's RPN labels)
    label_weights = (torch.rand(images, anchors_per_image) < 0.7).float()
    positive = (labels == 0) & (label_weights > 0)
    bbox_targets = torch.randn(images, anchors_per_image, 4) * 0.2 * positive[..., None]
    bbox_targets[0, positive[0].nonzero()[0, 0], 1] = 0.0  # an exactly-zero coordinate carries no weight
    bbox_weights = positive[..., None].float().expand(-1, -1, 4).clone()
    loss_cls, loss_bbox = head.loss_by_feat_single(cls_score, bbox_pred, None, labels, label_weights, bbox_targets,
                                                   bbox_weights, avg_factor=999)
    logits = cls_score.permute(0, 2, 3, 1).reshape(-1)
    expected_cls = (F.binary_cross_entropy_with_logits(logits, (labels.reshape(-1) == 0).float(), reduction='none')
                    * label_weights.reshape(-1)).sum() / (images * 256)
    torch.testing.assert_close(loss_cls, expected_cls)
    predictions = bbox_pred.permute(0, 2, 3, 1).reshape(images, anchors_per_image, 4)
    mask = (bbox_weights > 0) & (bbox_targets != 0)
    expected_box = huber(predictions - bbox_targets, 1 / 9)[mask].sum() / mask.sum()
    torch.testing.assert_close(loss_bbox, expected_box)


def test_vild_box_loss_averages_over_positive_coordinates(registries):
    """The reference's FastrcnnBoxLoss: Huber (delta 1) summed over the positive RoIs' coordinates / their number,
    where mmdet divides by every sampled RoI."""
    cfg = ConfigDict(Config.fromfile(BASE).model.roi_head.bbox_head)
    cfg.update(in_channels=8, conv_out_channels=8, fc_out_channels=16, norm_cfg=dict(type='BN'),
               fc_norm_cfg=dict(type='BN1d'), num_classes=3, cls_predictor_cfg=dict(embed_dim=8))
    head = registries.build(cfg)
    torch.manual_seed(0)
    rois, positives = 20, 5
    labels = torch.full((rois,), 3)
    labels[:positives] = torch.tensor([0, 1, 2, 0, 1])
    bbox_pred = torch.randn(rois, 4) * 2
    bbox_targets = torch.zeros(rois, 4)
    bbox_targets[:positives] = torch.randn(positives, 4)
    bbox_weights = torch.zeros(rois, 4)
    bbox_weights[:positives] = 1
    losses = head.loss(torch.randn(rois, 4), bbox_pred, torch.zeros(rois, 5), labels, torch.ones(rois),
                       bbox_targets, bbox_weights)
    expected = huber(bbox_pred[:positives] - bbox_targets[:positives], 1.0).sum() / (positives * 4)
    torch.testing.assert_close(losses['loss_bbox'], expected)


def test_vild_mask_head_normalises_its_deconvolution(registries):
    cfg = ConfigDict(Config.fromfile(BASE).model.roi_head.mask_head)
    cfg.update(num_convs=2, in_channels=8, conv_out_channels=4, norm_cfg=dict(type='BN', eps=1e-4))
    torch.manual_seed(0)
    head = registries.build(cfg)
    head.init_weights()
    randomise_norms(head)
    features = torch.randn(3, 8, 7, 7)
    with torch.no_grad():
        x = features
        for conv in head.convs:
            x = conv(x)
        norm = head.upsample_norm
        x = F.relu(F.batch_norm(head.upsample(x), norm.running_mean, norm.running_var, norm.weight, norm.bias,
                                eps=1e-4))
        torch.testing.assert_close(head(features), head.conv_logits(x))
    assert head(features).shape == (3, 1, 14, 14)
    cfg.norm_cfg = None
    with pytest.raises(ValueError, match='needs upsample_cfg type "deconv" and a norm_cfg'):
        registries.build(cfg)


def test_vild_base_config_is_the_references_layout():
    model = Config.fromfile(BASE).model
    assert model.backbone.type == 'ViLDResNet' and model.neck.type == 'ViLDFPN' and model.neck.num_outs == 5
    assert model.rpn_head.type == 'ViLDRPNHead' and model.rpn_head.num_levels == model.neck.num_outs
    assert model.roi_head.mask_head.type == 'ViLDMaskHead'
    rpn_coder = model.rpn_head.bbox_coder
    assert (rpn_coder.type, rpn_coder.encode_plus_one) == ('TFDeltaXYWHBBoxCoder', False)
    assert model.roi_head.bbox_head.bbox_coder.type == 'TFDeltaXYWHBBoxCoder'
    for norm_cfg in (model.backbone.norm_cfg, model.neck.norm_cfg, model.rpn_head.norm_cfg,
                     model.roi_head.bbox_head.norm_cfg, model.roi_head.mask_head.norm_cfg):
        assert (norm_cfg.eps, norm_cfg.momentum) == (1e-4, 0.003)  # TF's epsilon and momentum 0.997
    for extractor in (model.roi_head.bbox_roi_extractor, model.roi_head.mask_roi_extractor):
        assert extractor.featmap_strides == [4, 8, 16, 32, 64]  # RoIs are assigned to P2-P6


def tf_decode_boxes(encoded_yx: torch.Tensor, anchors_yx: torch.Tensor, weights) -> torch.Tensor:
    """tensorflow/tpu box_utils.decode_boxes, line by line, in its (y, x) order."""
    dy, dx, dh, dw = (encoded_yx[:, i] / weights[i] for i in range(4))
    clip = torch.log(torch.tensor(1000. / 16.))
    dh, dw = torch.minimum(dh, clip), torch.minimum(dw, clip)
    anchor_h = anchors_yx[:, 2] - anchors_yx[:, 0] + 1.0
    anchor_w = anchors_yx[:, 3] - anchors_yx[:, 1] + 1.0
    yc = dy * anchor_h + anchors_yx[:, 0] + 0.5 * anchor_h
    xc = dx * anchor_w + anchors_yx[:, 1] + 0.5 * anchor_w
    h, w = torch.exp(dh) * anchor_h, torch.exp(dw) * anchor_w
    ymin, xmin = yc - 0.5 * h, xc - 0.5 * w
    return torch.stack([ymin, xmin, ymin + h - 1.0, xmin + w - 1.0], 1)


def tf_encode_boxes(boxes_yx: torch.Tensor, anchors_yx: torch.Tensor, weights) -> torch.Tensor:
    """tensorflow/tpu box_utils.encode_boxes, in its (y, x) order."""
    box_h, box_w = boxes_yx[:, 2] - boxes_yx[:, 0] + 1.0, boxes_yx[:, 3] - boxes_yx[:, 1] + 1.0
    anchor_h, anchor_w = anchors_yx[:, 2] - anchors_yx[:, 0] + 1.0, anchors_yx[:, 3] - anchors_yx[:, 1] + 1.0
    dy = (boxes_yx[:, 0] + 0.5 * box_h - anchors_yx[:, 0] - 0.5 * anchor_h) / anchor_h
    dx = (boxes_yx[:, 1] + 0.5 * box_w - anchors_yx[:, 1] - 0.5 * anchor_w) / anchor_w
    return torch.stack([dy * weights[0], dx * weights[1], torch.log(box_h / anchor_h) * weights[2],
                        torch.log(box_w / anchor_w) * weights[3]], 1)


def yx(boxes: torch.Tensor) -> torch.Tensor:
    return boxes[:, [1, 0, 3, 2]]


def random_boxes(count: int, generator: torch.Generator) -> torch.Tensor:
    top_left = torch.rand(count, 2, generator=generator) * 200
    return torch.cat([top_left, top_left + 4 + torch.rand(count, 2, generator=generator) * 100], 1)


def test_vild_anchors_are_the_references():
    """anchor.py's boxes written out, converted from its (y1, x1, y2, x2): per level, positions row-major, at each
    position the aspect ratios (width / height) 1, 2, 0.5, centres at stride / 2 + i x stride."""
    from mmdet.models.task_modules.prior_generators import AnchorGenerator
    config = Config.fromfile(BASE).model.rpn_head.anchor_generator
    generator = AnchorGenerator(**{key: value for key, value in config.items() if key != 'type'})
    height, width = 128, 192  # divisible by the largest stride, as the reference requires
    for level, stride in enumerate(config.strides):
        anchors = generator.single_level_grid_priors((-(-height // stride), -(-width // stride)), level, device='cpu')
        expected = []
        for y in torch.arange(stride / 2, height, stride):
            for x in torch.arange(stride / 2, width, stride):
                for aspect in (1.0, 2.0, 0.5):
                    half_w, half_h = 8 * stride * aspect**0.5 / 2, 8 * stride * aspect**-0.5 / 2
                    expected.append([x - half_w, y - half_h, x + half_w, y + half_h])
        assert torch.allclose(anchors, torch.tensor(expected), atol=1e-4)


def tf_crop_and_resize(feature: torch.Tensor, box: torch.Tensor, stride: int, size: int) -> torch.Tensor:
    """spatial_transform_ops' multilevel crop-and-resize on one level, written out: the box divided by the stride,
    one sample per bin at start + (i + 0.5) x bin, the lower neighbour floor(p) clamped to [0, side - 1], the upper
    one min(lower + 1, side - 1), weights 1 - (p - lower) and p - lower."""
    x1, y1, x2, y2 = (box / stride).tolist()
    height, width = feature.shape[-2:]

    def taps(start, extent, side):
        points = [start + (i + 0.5) * extent / size for i in range(size)]
        lower = [min(max(float(torch.floor(torch.tensor(p))), 0.0), side - 1) for p in points]
        return [(int(low), int(min(low + 1, side - 1)), p - low) for p, low in zip(points, lower)]

    out = torch.zeros(feature.shape[0], size, size)
    for row, (y_low, y_high, ly) in enumerate(taps(y1, y2 - y1, height)):
        for col, (x_low, x_high, lx) in enumerate(taps(x1, x2 - x1, width)):
            out[:, row, col] = ((1 - ly) * (1 - lx) * feature[:, y_low, x_low]
                                + (1 - ly) * lx * feature[:, y_low, x_high]
                                + ly * (1 - lx) * feature[:, y_high, x_low] + ly * lx * feature[:, y_high, x_high])
    return out


def test_vild_roi_layer_is_the_references_crop_and_resize():
    """The base config's RoIAlign settings give the reference's crop-and-resize on boxes inside the image (the
    reference's boxes are clipped to it), thin ones included: a box narrower or lower than a feature pixel, or
    empty, is sampled where it lies (mmcv's legacy RoIAlign would widen it to one pixel)."""
    from clipdense.ops import RoIAlign
    config = Config.fromfile(BASE).model.roi_head
    generator = torch.Generator().manual_seed(0)
    stride, image = 8, 96
    feature = torch.randn(1, 3, image // stride, image // stride, generator=generator)
    corners = torch.rand(12, 2, 2, generator=generator) * (image - 1)
    boxes = torch.cat([corners.min(1).values, corners.max(1).values], 1)
    boxes[:, 2:] = torch.maximum(boxes[:, 2:], boxes[:, :2] + stride)
    boxes[0] = torch.tensor([0.0, 0.0, image - 1, image - 1])  # the whole image, as clipped boxes reach
    boxes = boxes.clamp(max=image - 1)
    boxes[1, 2] = boxes[1, 0] + 0.3 * stride  # narrower than a feature pixel
    boxes[2, 3] = boxes[2, 1]  # no height: a box clipped at the image border
    boxes[3, 2:] = boxes[3, :2]  # a point
    for extractor in (config.bbox_roi_extractor, config.mask_roi_extractor):
        layer = {key: value for key, value in extractor.roi_layer.items() if key != 'type'}
        size = layer['output_size']
        pooled = RoIAlign(spatial_scale=1 / stride, **layer)(feature, torch.cat([torch.zeros(12, 1), boxes], 1))
        expected = torch.stack([tf_crop_and_resize(feature[0], box, stride, size) for box in boxes])
        assert torch.allclose(pooled, expected, atol=1e-5)


def test_vild_rpn_keeps_empty_proposals(registries):
    """The reference filters no proposal by size (rpn_min_size_threshold 0): boxes decoded outside the image and
    clipped to an empty box at its border stay proposals, and are pooled (test and training proposals alike)."""
    head = build_rpn_head(registries).eval()
    config = Config.fromfile(BASE).model
    side = 64
    cls_scores = [torch.zeros(1, 3, side // s, side // s) for s in (4, 8, 16, 32, 64)]
    bbox_preds = [torch.zeros(1, 12, side // s, side // s) for s in (4, 8, 16, 32, 64)]
    for level in range(5):  # every anchor of the top row pushed above the image: clipped to y1 = y2 = 0
        cls_scores[level][:, :, 0] = 5.0
        bbox_preds[level][:, 1::4, 0] = -20.0  # mmdet's (dx, dy, dw, dh) per anchor
    meta = dict(img_shape=(side, side), pad_shape=(side, side), batch_input_shape=(side, side))
    for proposal_cfg in (config.test_cfg.rpn, config.train_cfg.rpn_proposal):
        with torch.no_grad():
            proposals = head.predict_by_feat(cls_scores, bbox_preds, batch_img_metas=[meta], cfg=proposal_cfg,
                                             rescale=False)[0]
        empty = proposals.bboxes[:, 3] <= proposals.bboxes[:, 1]
        assert empty.any() and proposals.scores[empty].min() > proposals.scores[~empty].max()


def test_tf_box_coder_is_box_utils(registries):
    from clipdense.registry import TASK_UTILS
    generator = torch.Generator().manual_seed(0)
    stds, weights = [0.1, 0.1, 0.2, 0.2], [10.0, 10.0, 5.0, 5.0]
    coder = TASK_UTILS.build(dict(type='TFDeltaXYWHBBoxCoder', target_stds=stds))
    anchors, boxes = random_boxes(50, generator), random_boxes(50, generator)
    deltas = coder.encode(anchors, boxes)
    torch.testing.assert_close(deltas, yx(tf_encode_boxes(yx(boxes), yx(anchors), weights)))
    torch.testing.assert_close(coder.decode(anchors, deltas), boxes, rtol=1e-4, atol=1e-3)  # the inverse
    predictions = torch.randn(50, 4, generator=generator) * 3
    predictions[0, 2], predictions[1, 3] = 40.0, -40.0  # capped above at log(1000/16); not below
    expected = yx(tf_decode_boxes(yx(predictions), yx(anchors), weights))
    torch.testing.assert_close(coder.decode(anchors, predictions), expected)
    assert coder.decode(anchors, predictions)[1, 3] - coder.decode(anchors, predictions)[1, 1] < -0.9  # mmdet: 16/1000
    clipped = coder.decode(anchors, predictions, max_shape=(120, 90))
    torch.testing.assert_close(clipped, torch.min(expected.clamp(min=0), torch.tensor([89.0, 119.0, 89.0, 119.0])))
    two_classes = coder.decode(anchors, torch.cat([predictions, predictions.flip(0)], 1))
    torch.testing.assert_close(two_classes[:, 4:], coder.decode(anchors, predictions.flip(0)))


def test_tf_box_coder_encodes_rpn_targets_as_faster_rcnn_box_coder(registries):
    """The RPN's anchor targets come from object_detection's FasterRcnnBoxCoder: sizes x2 - x1, no weights."""
    from mmdet.models.task_modules.coders import DeltaXYWHBBoxCoder

    from clipdense.registry import TASK_UTILS
    generator = torch.Generator().manual_seed(1)
    coder = TASK_UTILS.build(dict(type='TFDeltaXYWHBBoxCoder', encode_plus_one=False))
    anchors, boxes = random_boxes(20, generator), random_boxes(20, generator)
    torch.testing.assert_close(coder.encode(anchors, boxes), DeltaXYWHBBoxCoder().encode(anchors, boxes))
    with pytest.raises(ValueError, match='no target means'):
        TASK_UTILS.build(dict(type='TFDeltaXYWHBBoxCoder', target_means=[0.1, 0, 0, 0]))


def test_vild_masks_are_pasted_as_the_references_evaluation(registries):
    """Masks pasted into the image equal what tensorflow/tpu's evaluation pastes (tests/data/tf_paste/pasted.npz,
    written by its mask_utils.paste_instance_masks with the script beside it), boxes over the image's edges, under
    a pixel and inverted included; mmdet's grid-sampled paste differs."""
    import numpy as np
    reference = np.load(f'{ROOT}/tests/data/tf_paste/pasted.npz')
    config = Config.fromfile(BASE).model
    head = registries.build(dict(config.roi_head.mask_head, norm_cfg=dict(type='BN'), in_channels=8,
                                 conv_out_channels=8))
    probabilities = torch.from_numpy(reference['masks'])[:, None]
    scale = (2.0, 0.5)  # network input / original, per axis
    boxes = torch.from_numpy(reference['boxes']) * torch.tensor(scale * 2)
    meta = dict(ori_shape=tuple(int(side) for side in reference['image_shape']), scale_factor=scale)
    test_cfg = ConfigDict(config.test_cfg.rcnn)
    masks = head._predict_by_feat_single(probabilities, boxes.clone(), torch.zeros(len(boxes), dtype=torch.long),
                                         meta, test_cfg, rescale=True, activate_map=True)
    assert masks.dtype == torch.bool and torch.equal(masks, torch.from_numpy(reference['pasted']))
    mmdet_masks = super(type(head), head)._predict_by_feat_single(
        probabilities, boxes.clone(), torch.zeros(len(boxes), dtype=torch.long), meta, test_cfg, rescale=True,
        activate_map=True)
    assert not torch.equal(mmdet_masks, masks)
