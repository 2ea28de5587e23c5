"""RegionCLIP (C4) on mmdet 3.x: the backbone and RoI head against CLIP's own image path, the head's logits and box
deltas, the classification loss against a hand computation, zero-shot inference on ground-truth boxes, the RPN
score fusions, the text recipe, the checkpoint converter and the OV-COCO config. Tiny ResNet CLIP only (fast)."""
import os

import numpy as np
import pytest
import torch
import torch.nn.functional as F
from mmdet.structures import DetDataSample
from mmengine.config import Config
from mmengine.structures import InstanceData

from tool_runs import ROOT, load_tool, run_tool

CONFIG = os.path.join(ROOT, 'configs/regionclip/regionclip_r50-c4_ov-coco.py')
GT_CONFIG = os.path.join(ROOT, 'configs/regionclip/regionclip_r50-c4_zero-shot-gt-boxes_ov-coco.py')
EMBED = 32  # the tiny CLIP's joint space; its res4 has 256 channels, its attention-pool grid is 2x2 (pooler 4)
OFFLINE_WIDTH = 4  # the offline RPN's R50 stem width (detectron2's STEM_OUT_CHANNELS; res2 has 4x)
RES5_CHANNELS = 512  # the tiny CLIP's layer4


@pytest.fixture(scope='module')
def registries():
    from clipdense.registry import register_all_modules
    register_all_modules()
    from clipdense.registry import MODELS
    return MODELS


def tiny_config(path=CONFIG, **model):
    """The config with the tiny ResNet CLIP (64-pixel grid: pooler 4 → layer4 2x2) and three classes."""
    cfg = Config.fromfile(path)
    cfg.model.update(clip=dict(name='test-tiny-rn', pretrained=None), text_cache_dir=None,
                     vocabulary=['cat', 'dog', 'car'], train_vocabulary=['cat', 'dog'])
    if cfg.model.rpn_head is not None:
        cfg.model.rpn_head.update(in_channels=256, feat_channels=32)
    if cfg.model.offline_rpn is not None:  # an R50 of width 4 (res4: 64 channels, an FPN of 64), random weights
        tiny_offline_rpn(cfg.model.offline_rpn)
    cfg.model.roi_head.bbox_roi_extractor.update(out_channels=256)
    cfg.model.roi_head.bbox_roi_extractor.roi_layer.output_size = 4
    cfg.model.roi_head.bbox_head.in_channels = EMBED
    if cfg.model.roi_head.get('mask_head') is not None:  # on res5: layer4 (512 channels here), 2x2 → 4x4 masks
        cfg.model.roi_head.mask_head.in_channels = RES5_CHANNELS
        cfg.model.train_cfg.rcnn.mask_size = 4
    cfg.model.update(model)
    return cfg


def tiny_offline_rpn(offline_rpn):
    """An offline RPN config made tiny in place: its R50 of width ``OFFLINE_WIDTH``, FPN and RPN head of 16x that
    (C4: res4's width), random weights."""
    offline_rpn.backbone.base_channels = OFFLINE_WIDTH
    if offline_rpn.get('neck') is not None:
        offline_rpn.neck.update(in_channels=[4 * OFFLINE_WIDTH * 2 ** stage for stage in range(4)],
                                out_channels=16 * OFFLINE_WIDTH)
    offline_rpn.rpn_head.update(in_channels=16 * OFFLINE_WIDTH, feat_channels=16 * OFFLINE_WIDTH)
    offline_rpn.checkpoint = None
    return offline_rpn


@pytest.fixture(scope='module')
def detector(registries):
    torch.manual_seed(0)
    model = registries.build(tiny_config().model)
    model.init_weights()
    return model.eval()


def sample(boxes, labels, shape=(128, 160), scale=1.0):
    data = DetDataSample(metainfo=dict(img_shape=shape, ori_shape=tuple(round(s / scale) for s in shape),
                                       scale_factor=(scale, scale), pad_shape=shape, batch_input_shape=shape))
    data.gt_instances = InstanceData(bboxes=torch.tensor(boxes, dtype=torch.float32), labels=torch.tensor(labels))
    return data


# ---- the C4 composition ------------------------------------------------------------------------------------
def test_whole_image_roi_reproduces_clips_image_embedding(detector):
    """RoIAlign (aligned) of the whole-image box at the res4 map's size is the map itself; layer4 and the attention
    pool then give exactly CLIP's encode_image."""
    torch.manual_seed(1)
    images = torch.randn(2, 3, 64, 64)
    with torch.no_grad():
        features = detector.extract_feat(images)
        assert features[0].shape == (2, 256, 4, 4)  # res4, stride 16
        rois = torch.tensor([[0, 0, 0, 64, 64], [1, 0, 0, 64, 64]], dtype=torch.float32)
        regions = detector.roi_head.region_embeddings(features, rois)
        expected = detector.backbone.tower.visual(images)  # open_clip's own ModifiedResNet forward
    assert regions.shape == (2, EMBED)
    torch.testing.assert_close(regions, expected, rtol=1e-5, atol=1e-5)


def test_backbone_freezing(registries):
    torch.manual_seed(0)
    model = registries.build(tiny_config().model)
    model.train()
    visual = model.backbone.tower.visual
    assert not visual.conv1.weight.requires_grad and not any(p.requires_grad for p in visual.layer1.parameters())
    assert visual.layer2[0].conv1.weight.requires_grad and visual.layer4[0].conv1.weight.requires_grad
    norms = [m for m in visual.modules() if isinstance(m, torch.nn.modules.batchnorm._BatchNorm)]
    assert norms and all(not m.training and not m.weight.requires_grad for m in norms)
    # layer4 and the pool are the backbone's, used by the RoI head without a second copy in the state dict
    assert not any(key.startswith('roi_head.') and 'layer4' in key for key in model.state_dict())
    assert model.roi_head.bbox_head.fc_reg.weight.shape == (4, EMBED)


# ---- the head ----------------------------------------------------------------------------------------------
def test_head_logits_cosine_times_100_with_zero_background_and_raw_box_deltas(detector):
    torch.manual_seed(2)
    embeddings = torch.randn(5, EMBED) * 3
    head = detector.roi_head.bbox_head
    with torch.no_grad():
        cls_score, bbox_pred = head(embeddings)
    text = detector.class_embeddings.embeddings  # normalised text rows of the test vocabulary
    expected = 100 * F.normalize(embeddings, dim=-1) @ F.normalize(text, dim=-1).t()
    assert cls_score.shape == (5, 4)
    torch.testing.assert_close(cls_score[:, :3], expected, rtol=1e-5, atol=1e-4)
    assert torch.equal(cls_score[:, 3], torch.zeros(5))
    # box deltas from the un-normalised embedding (the reference's bbox_pred(x) on the attention-pool output)
    torch.testing.assert_close(bbox_pred, embeddings @ head.fc_reg.weight.t() + head.fc_reg.bias)


def test_training_classifies_against_the_training_classes_only(registries):
    torch.manual_seed(0)
    model = registries.build(tiny_config().model)
    model.init_weights()
    model.train()
    head = model.roi_head.bbox_head
    assert head(torch.randn(3, EMBED))[0].shape == (3, 3)  # cat, dog, background
    losses = model.loss(torch.randn(1, 3, 128, 160), [sample([[10, 10, 60, 70], [50, 20, 150, 120]], [0, 2])])
    assert torch.isfinite(losses['loss_cls']) and torch.isfinite(losses['loss_bbox'])
    assert head.num_classes == 3  # restored to the test vocabulary after the loss


# ---- the loss ----------------------------------------------------------------------------------------------
def test_focal_scaled_loss_matches_a_hand_computation(registries):
    from clipdense.models.losses import FocalScaledCrossEntropyLoss
    torch.manual_seed(3)
    logits = torch.randn(6, 4) * 3
    labels = torch.tensor([0, 3, 1, 3, 2, 3])  # 3 = background
    loss = FocalScaledCrossEntropyLoss(gamma=0.5, background_weight=0.2)(logits, labels)
    expected = 0.0
    for row, label in zip(logits, labels):
        p = row.softmax(-1)[label]
        weight = 0.2 if label == 3 else 1.0
        expected += -torch.log(p) * (1 - p) ** 0.5 * weight
    torch.testing.assert_close(loss, expected / 6)
    # LVIS (no focal scaling): PyTorch's class-weighted mean, normalised by the sum of the weights
    lvis = FocalScaledCrossEntropyLoss(gamma=None, background_weight=0.8)(logits, labels)
    torch.testing.assert_close(lvis, F.cross_entropy(logits, labels, weight=torch.tensor([1, 1, 1, 0.8])))


def test_focal_scaled_loss_keeps_the_reference_values_and_a_finite_gradient_when_saturated():
    """Where the softmax saturates (p_t == 1 in fp32) the reference's gradient is NaN; here the gradient stays
    finite and the values are the reference formula's, bit for bit where it does not saturate."""
    from clipdense.models.losses import FocalScaledCrossEntropyLoss
    logits = torch.tensor([[0.3, 1.2, -0.5], [90.0, 0.0, 0.0], [2.0, 0.5, 0.1]], requires_grad=True)
    labels = torch.tensor([1, 0, 2])
    loss = FocalScaledCrossEntropyLoss(gamma=0.5, background_weight=0.2)(logits, labels)
    loss.backward()
    assert torch.isfinite(logits.grad).all() and logits.grad[1].abs().max() < 1e-6
    reference = logits.detach().clone().requires_grad_(True)
    ce = F.cross_entropy(reference, labels, reduction='none')
    p_t = reference.softmax(-1)[torch.arange(3), labels]
    weights = torch.tensor([1.0, 1.0, 0.2])
    reference_loss = (ce * (1 - p_t) ** 0.5 * weights).mean()
    assert p_t[1] == 1 and loss.item() == pytest.approx(reference_loss.item(), abs=1e-12)
    reference_loss.backward()
    # the saturated RoI's gradient is NaN, and through the shared weights every parameter's becomes NaN
    assert torch.isnan(reference.grad[1]).all() and torch.isfinite(reference.grad[[0, 2]]).all()
    unsaturated = FocalScaledCrossEntropyLoss(gamma=0.5, background_weight=0.2)(logits[[0, 2]], labels[[0, 2]])
    assert torch.equal(unsaturated, (ce * (1 - p_t) ** 0.5 * weights)[[0, 2]].mean())


# ---- inference ---------------------------------------------------------------------------------------------
def test_ground_truth_boxes_are_scored_as_they_are(detector):
    torch.manual_seed(4)
    images = torch.randn(1, 3, 128, 160)
    boxes = [[10.0, 10.0, 60.0, 70.0], [50.0, 20.0, 150.0, 120.0]]
    detector.test_proposals = 'gt'
    detector.roi_head.test_cfg.score_thr = 0.0  # random weights: scores are far from the recipe's 0.001
    soft_nms, detector.roi_head.test_cfg.nms = detector.roi_head.test_cfg.nms, dict(type='nms', iou_threshold=0.5)
    try:
        with torch.no_grad():
            result = detector.predict(images, [sample(boxes, [0, 2], scale=2.0)])[0].pred_instances
            rois = torch.tensor([[0.0] + box for box in boxes])
            probabilities = detector.roi_head.bbox_head(
                detector.roi_head.region_embeddings(detector.extract_feat(images), rois))[0].softmax(-1)
    finally:
        detector.test_proposals = 'rpn'
        detector.roi_head.test_cfg.score_thr = 0.001
        detector.roi_head.test_cfg.nms = soft_nms  # zero-shot evaluates with hard NMS, the fine-tuned config not
    original = torch.tensor(boxes) / 2  # rescaled to the original image, no deltas applied
    assert len(result) == 6  # every (box, class) pair at threshold 0
    for box, label, score in zip(result.bboxes, result.labels, result.scores):
        index = int((original - box).abs().sum(-1).argmin())
        torch.testing.assert_close(box, original[index])
        torch.testing.assert_close(score, probabilities[index, label])


def test_gt_mode_without_boxes_is_a_user_error(detector):
    from clipdense.utils import UserError
    data = sample([[0, 0, 8, 8]], [0])
    del data.gt_instances
    detector.test_proposals = 'gt'
    try:
        with pytest.raises(UserError, match='LoadAnnotations'):
            detector.predict(torch.randn(1, 3, 128, 160), [data])
    finally:
        detector.test_proposals = 'rpn'


def test_rpn_score_fusions():
    from clipdense.models.roi_heads import fuse_rpn_scores
    probabilities = torch.tensor([[0.5, 0.3, 0.2], [0.1, 0.1, 0.8], [0.6, 0.2, 0.2]])
    rpn = torch.tensor([0.9, 0.2, 0.99999])
    torch.testing.assert_close(fuse_rpn_scores(probabilities, rpn, 'sigmoid'), (probabilities * rpn[:, None]).sqrt())
    reference = fuse_rpn_scores(probabilities, rpn, 'reference')  # the raw logit, as RegionCLIP keeps it
    torch.testing.assert_close(reference[0], (probabilities[0] * torch.logit(rpn[0])).sqrt())
    assert torch.isnan(reference[1]).all()  # negative logit: the row is dropped by the finite mask
    assert reference[2, 0] > 1  # scores can exceed 1
    # the offline RPN hands over its raw logits: used as they are, also where the sigmoid saturates
    logits = torch.tensor([2.0, -1.0, 40.0])
    exact = fuse_rpn_scores(probabilities, logits.sigmoid(), 'reference', rpn_logits=logits)
    torch.testing.assert_close(exact[[0, 2]], (probabilities[[0, 2]] * logits[[0, 2], None]).sqrt())
    assert torch.isnan(exact[1]).all() and torch.isinf(fuse_rpn_scores(probabilities, logits.sigmoid(),
                                                                       'reference')[2]).all()


def test_reference_fusion_drops_non_finite_rows(detector):
    from mmengine.config import ConfigDict
    head = detector.roi_head.bbox_head
    rois = torch.tensor([[0, 0, 0, 50, 50], [0, 10, 10, 90, 90]], dtype=torch.float32)
    cls_score = torch.tensor([[5.0, 0, 0, 0], [0, 5.0, 0, 0]])
    cfg = ConfigDict(score_thr=0.0, nms=dict(type='nms', iou_threshold=0.5), max_per_img=100)
    meta = dict(img_shape=(128, 128), scale_factor=(1.0, 1.0))
    result = head.predict_single(rois, cls_score, None, meta, False, cfg, rpn_scores=torch.tensor([0.9, 0.3]),
                                 rpn_score_fusion='reference')
    assert torch.equal(result.bboxes, rois[:1, 1:].expand(len(result), 4))  # the second proposal is gone


# ---- text --------------------------------------------------------------------------------------------------
def test_text_is_the_normalised_mean_of_unnormalised_prompt_embeddings():
    from clipdense.models.clip import TextClassifier, build_clip
    from clipdense.models.clip.templates import TEMPLATE_SETS, format_prompt
    templates = TEMPLATE_SETS['regionclip81']
    assert len(templates) == 81 and len(set(templates)) == 81 and templates[0] == '{}.'
    assert format_prompt('{}.', 'hot dog, sausage+bun', 'regionclip') == 'hot dog sausage bun.'
    assert format_prompt('a photo of a {}.', 'speaker_(stereo_equipment)', 'regionclip') == \
        'a photo of a speaker stereo equipment.'  # LVIS names as its get_cls_names writes them
    clip_model = build_clip('test-tiny-rn', None)
    classifier = TextClassifier(clip_model, templates[:3], clip_name='test-tiny-rn', cache_dir=None,
                                name_style='regionclip', normalize_prompts=False)
    prompts = [format_prompt(template, 'cat', 'regionclip') for template in templates[:3]]
    expected = F.normalize(classifier.encode_prompts(prompts).mean(0), dim=-1)
    torch.testing.assert_close(classifier(['cat']).embeddings[0], expected)
    normalised = TextClassifier(clip_model, templates[:3], clip_name='test-tiny-rn', cache_dir=None)
    assert classifier._cache_key(['cat']) != normalised._cache_key(['cat'])


# ---- the converter -----------------------------------------------------------------------------------------
def load_converter():
    return load_tool('tools/model_converters/regionclip2clipdense.py')


def official_state_dict(clip_model):
    """A RegionCLIP checkpoint's keys (CLIPFastRCNN): ``backbone`` is clip_backbone.ModifiedResNet (CLIP's names,
    FrozenBN: no num_batches_tracked), ``lang_encoder`` CLIPLangEncoder (CLIP's text names + logit_scale),
    ``roi_heads.box_predictor`` FastRCNNOutputLayers, and the offline detectron2 R50 + RPN."""
    torch.manual_seed(5)
    state = {}
    for key, value in clip_model.state_dict().items():
        if key.startswith('visual.'):
            if not key.endswith('num_batches_tracked'):
                state['backbone.' + key[len('visual.'):]] = torch.randn_like(value.float())
        else:
            state['lang_encoder.' + key] = value.clone()
    predictor = 'roi_heads.box_predictor.'
    state[predictor + 'cls_score.weight'] = torch.randn(48, EMBED)
    state[predictor + 'test_cls_score.weight'] = torch.randn(65, EMBED)
    state[predictor + 'cls_bg_score.weight'] = torch.zeros(1, EMBED)
    state[predictor + 'bbox_pred.weight'] = torch.randn(4, EMBED)
    state[predictor + 'bbox_pred.bias'] = torch.randn(4)
    state['offline_backbone.res2.0.conv1.weight'] = torch.randn(64, 64, 1, 1)
    state['offline_backbone.res2.0.conv1.norm.running_mean'] = torch.randn(64)
    state['offline_proposal_generator.rpn_head.conv.weight'] = torch.randn(8, 8, 3, 3)
    state['offline_proposal_generator.rpn_head.objectness_logits.weight'] = torch.randn(15, 8, 1, 1)
    return state


def test_converter_renames_every_kept_tensor_and_loads_strictly(registries, tmp_path):
    torch.manual_seed(0)
    model = registries.build(tiny_config().model)
    official = official_state_dict(model.text_classifier.clip_model)
    torch.save({'model': official, 'iteration': 89999}, tmp_path / 'regionclip.pth')
    load_converter().main([str(tmp_path / 'regionclip.pth'), str(tmp_path / 'converted.pth')])
    checkpoint = torch.load(tmp_path / 'converted.pth', weights_only=False)
    converted = checkpoint['state_dict']
    missing, unexpected = model.load_state_dict(converted, strict=False)
    assert not unexpected
    assert missing and all(key.startswith('offline_rpn.') for key in missing)  # regionclip_rpn2clipdense.py's
    state = model.state_dict()
    torch.testing.assert_close(state['backbone.tower.visual.layer4.0.conv1.weight'],
                               official['backbone.layer4.0.conv1.weight'])
    torch.testing.assert_close(state['backbone.tower.visual.attnpool.c_proj.weight'],
                               official['backbone.attnpool.c_proj.weight'])
    torch.testing.assert_close(state['roi_head.bbox_head.fc_reg.bias'],
                               official['roi_heads.box_predictor.bbox_pred.bias'])
    # the released text tower is recorded, and matches the configured one (same weights here)
    assert checkpoint['meta']['text_tower']['fingerprint'] == model.text_classifier.fingerprint
    # the zero-shot model (no RPN) takes every tensor strictly
    zero_shot = registries.build(tiny_config(GT_CONFIG).model)
    zero_shot.load_state_dict(converted, strict=True)


def test_converter_keeps_the_lvis_mask_head(registries, tmp_path):
    """An LVIS checkpoint's MaskRCNNConvUpsampleHead (deconv, predictor) loads into the OV-LVIS model's mask head."""
    torch.manual_seed(0)
    model = registries.build(tiny_config(LVIS_CONFIGS['r50']).model)
    official = official_state_dict(model.text_classifier.clip_model)
    official.update({'roi_heads.mask_head.deconv.weight': torch.randn(RES5_CHANNELS, 256, 2, 2),
                     'roi_heads.mask_head.deconv.bias': torch.randn(256),
                     'roi_heads.mask_head.predictor.weight': torch.randn(1, 256, 1, 1),
                     'roi_heads.mask_head.predictor.bias': torch.randn(1)})
    torch.save({'model': official}, tmp_path / 'regionclip_lvis.pth')
    converted = load_converter().convert(str(tmp_path / 'regionclip_lvis.pth'), str(tmp_path / 'converted.pth'))
    missing, unexpected = model.load_state_dict(converted, strict=False)
    assert not unexpected and all(key.startswith('offline_rpn.') for key in missing)
    head = model.roi_head.mask_head
    assert torch.equal(head.upsample.weight, official['roi_heads.mask_head.deconv.weight'])
    assert torch.equal(head.upsample.bias, official['roi_heads.mask_head.deconv.bias'])
    assert torch.equal(head.conv_logits.weight, official['roi_heads.mask_head.predictor.weight'])
    assert torch.equal(head.conv_logits.bias, official['roi_heads.mask_head.predictor.bias'])


def test_converter_rejects_other_checkpoints(tmp_path):
    from clipdense.utils import UserError
    torch.save({'model': {'backbone.conv1.weight': torch.zeros(1)}}, tmp_path / 'other.pth')
    with pytest.raises(UserError, match='not a RegionCLIP checkpoint'):
        load_converter().convert(str(tmp_path / 'other.pth'), str(tmp_path / 'out.pth'))


# ---- the config --------------------------------------------------------------------------------------------
def test_ov_coco_config_holds_the_reference_recipe():
    cfg = Config.fromfile(CONFIG)
    assert cfg.train_cfg.max_iters == 90000 and cfg.optim_wrapper.optimizer.lr == 0.002
    assert cfg.param_scheduler[0].end == 5000 and cfg.param_scheduler[1].milestones == [60000, 80000]
    assert cfg.train_dataloader.batch_size * 8 == cfg.auto_scale_lr.base_batch_size == 16
    scales = cfg.train_dataloader.dataset.pipeline[2].scales
    assert [short for _, short in scales] == list(range(640, 801, 32))
    head = cfg.model.roi_head
    assert head.bbox_roi_extractor.roi_layer.output_size == 14 and head.bbox_roi_extractor.roi_layer.aligned
    assert head.bbox_head.loss_cls.gamma == 0.5 and head.bbox_head.loss_cls.background_weight == 0.2
    assert cfg.model.clip.name == 'RN50' and cfg.model.templates == 'regionclip81'
    assert cfg.load_from == 'checkpoints/regionclip_pretrained-cc_rn50_clipdense.pth'  # MODEL.WEIGHTS


def test_backbone_builds_its_own_clip_and_rejects_vision_transformers(registries):
    from clipdense.models.backbones import CLIPResNetC4
    from clipdense.utils import UserError
    backbone = CLIPResNetC4(clip=dict(name='test-tiny-rn', pretrained=None))
    assert backbone.out_channels == (256,) and backbone.embed_dim == EMBED
    assert backbone(torch.randn(1, 3, 64, 96))[0].shape == (1, 256, 4, 6)
    with pytest.raises(UserError, match='ResNet CLIP'):
        CLIPResNetC4(clip=dict(name='test-tiny-vit', pretrained=None))
    with pytest.raises(UserError, match='frozen_stages'):
        CLIPResNetC4(clip=dict(name='test-tiny-rn', pretrained=None), frozen_stages=7)


def test_zero_shot_gt_config_scores_loaded_boxes_without_an_rpn(registries):
    cfg = Config.fromfile(GT_CONFIG)
    assert cfg.model.test_proposals == 'gt' and cfg.model.rpn_head is None
    steps = [step.type for step in cfg.test_dataloader.dataset.pipeline]
    assert steps.index('mmdet.LoadAnnotations') < steps.index('mmdet.Resize')  # boxes resized with the image
    assert cfg.model.test_cfg.rcnn.score_thr == 0.001 and cfg.model.test_cfg.rcnn.nms.iou_threshold == 0.5
    model = registries.build(tiny_config(GT_CONFIG).model).eval()
    assert not model.with_rpn
    with torch.no_grad():
        result = model.predict(torch.randn(1, 3, 128, 160), [sample([[10, 10, 60, 70]], [1])])[0].pred_instances
    assert all(torch.equal(box, torch.tensor([10.0, 10.0, 60.0, 70.0])) for box in result.bboxes)
    from clipdense.utils import UserError
    with pytest.raises(UserError, match='test_proposals="gt"'):
        registries.build(tiny_config(GT_CONFIG, test_proposals='rpn').model)


# ---- the offline RPN (the reference's frozen R50-C4 + RPN, rpn_coco_48.pth) ---------------------------------
def detectron2_rpn_state_dict(width=OFFLINE_WIDTH, blocks=(3, 4, 6), anchors=15, seed=6, fpn_width=None,
                              sync_bn=False, rpn_convs=1):
    """A released RPN checkpoint's tensors with their official names and shapes, random values: detectron2's
    ResNet (``BasicStem``: conv1 7x7 + a ``norm``; ``BottleneckBlock`` res2..: conv1 1x1, conv2 3x3, conv3 1x1, a
    ``shortcut`` in each stage's first block, bottleneck = out / 4), ``StandardRPNHead`` (``conv`` 3x3, or
    ``conv.conv0``, ``conv.conv1``, ... with ``RPN.CONV_DIMS`` of more than one entry; ``objectness_logits`` A,
    ``anchor_deltas`` 4A) and the detector's RoI heads (dropped by the converter). C4 (``rpn_coco_48.pth``): the
    ResNet under ``backbone.`` up to res4 (three ``blocks`` counts), FrozenBN (no counter). FPN (``fpn_width`` set,
    four ``blocks`` counts; ``rpn_lvis_866*.pth``, ``build_resnet_fpn_backbone``): the ResNet under
    ``backbone.bottom_up.`` up to res5, ``backbone.fpn_lateral2..5`` (1x1) and ``fpn_output2..5`` (3x3) with a bias,
    or, with ``sync_bn`` (the LSJ RPN), with a SyncBN ``norm`` (which counts ``num_batches_tracked``) and no bias."""
    generator = torch.Generator().manual_seed(seed)

    def conv(out_channels, in_channels, size):
        return torch.randn(out_channels, in_channels, size, size, generator=generator) * (2 / (in_channels * size ** 2))
    state = {}

    def norm(name, channels):
        state[name + '.norm.weight'] = 1 + 0.1 * torch.randn(channels, generator=generator)
        state[name + '.norm.bias'] = 0.1 * torch.randn(channels, generator=generator)
        state[name + '.norm.running_mean'] = 0.1 * torch.randn(channels, generator=generator)
        state[name + '.norm.running_var'] = 0.5 + torch.rand(channels, generator=generator)
        if sync_bn:
            state[name + '.norm.num_batches_tracked'] = torch.tensor(1000)

    def conv_norm(name, out_channels, in_channels, size):
        state[name + '.weight'] = conv(out_channels, in_channels, size)
        norm(name, out_channels)

    resnet = 'backbone.bottom_up.' if fpn_width else 'backbone.'
    conv_norm(resnet + 'stem.conv1', width, 3, 7)
    in_channels, stage_channels = width, []
    for stage, count in enumerate(blocks):
        out_channels = 4 * width * 2 ** stage
        for index in range(count):
            prefix = f'{resnet}res{stage + 2}.{index}.'
            if index == 0:
                conv_norm(prefix + 'shortcut', out_channels, in_channels, 1)
            conv_norm(prefix + 'conv1', out_channels // 4, in_channels, 1)
            conv_norm(prefix + 'conv2', out_channels // 4, out_channels // 4, 3)
            conv_norm(prefix + 'conv3', out_channels, out_channels // 4, 1)
            in_channels = out_channels
        stage_channels.append(out_channels)
    if fpn_width:
        for level, channels in enumerate(stage_channels, start=2):
            for name, in_channels, size in ((f'backbone.fpn_lateral{level}', channels, 1),
                                            (f'backbone.fpn_output{level}', fpn_width, 3)):
                state[name + '.weight'] = conv(fpn_width, in_channels, size)
                if sync_bn:
                    norm(name, fpn_width)
                else:
                    state[name + '.bias'] = 0.1 * torch.randn(fpn_width, generator=generator)
        in_channels = fpn_width
    head = 'proposal_generator.rpn_head.'
    convs = ['conv'] if rpn_convs == 1 else [f'conv.conv{index}' for index in range(rpn_convs)]
    for name, out_channels, size in ([(name, in_channels, 3) for name in convs]
                                     + [('objectness_logits', anchors, 1), ('anchor_deltas', 4 * anchors, 1)]):
        state[head + name + '.weight'] = conv(out_channels, in_channels, size) * 10
        state[head + name + '.bias'] = 0.1 * torch.randn(out_channels, generator=generator)
    state['roi_heads.res5.0.conv1.weight'] = torch.randn(2 * in_channels // 4, in_channels, 1, 1)
    state['roi_heads.box_predictor.cls_score.weight'] = torch.randn(49, 8 * in_channels)
    return state


# ---- soft-NMS (the fine-tuned evaluations) -----------------------------------------------------------------
def soft_nms_by_hand(boxes, scores, labels, method, sigma, threshold, prune):
    """RegionCLIP's soft-NMS written independently (float64, an IoU matrix, an alive mask): every class in one
    pass, the highest alive score taken (the first on ties), the others decayed, scores <= prune dropped."""
    boxes, current = boxes.double(), scores.double().clone()
    lt = torch.max(boxes[:, None, :2], boxes[None, :, :2])
    rb = torch.min(boxes[:, None, 2:], boxes[None, :, 2:])
    inter = (rb - lt).clamp(min=0).prod(-1)
    area = (boxes[:, 2] - boxes[:, 0]) * (boxes[:, 3] - boxes[:, 1])
    iou = torch.where(inter > 0, inter / (area[:, None] + area[None] - inter), torch.zeros_like(inter))
    iou = iou * (labels[:, None] == labels[None]).double()  # classes never suppress each other
    alive = torch.ones(len(scores), dtype=torch.bool)
    order, kept_scores = [], []
    while alive.any():
        top = int(torch.where(alive, current, torch.tensor(-float('inf'), dtype=torch.float64)).argmax())
        order.append(top)
        kept_scores.append(float(current[top]))
        if method == 'gaussian':
            current = current * torch.exp(-iou[top] ** 2 / sigma)
        else:
            current = current * torch.where(iou[top] > threshold, 1 - iou[top], torch.ones_like(iou[top]))
        alive &= current > prune
        alive[top] = False
    return torch.tensor(order, dtype=torch.long), torch.tensor(kept_scores, dtype=torch.float64)


def clustered_detections(seed, count=60, classes=3):
    """Boxes in a few overlapping clusters with a background column, as a head's scores look."""
    generator = torch.Generator().manual_seed(seed)
    centres = torch.tensor([[40.0, 40.0], [60.0, 50.0], [150.0, 90.0]])
    centre = centres[torch.randint(0, 3, (count,), generator=generator)] + 8 * torch.randn(count, 2,
                                                                                          generator=generator)
    size = 20 + 20 * torch.rand(count, 2, generator=generator)
    boxes = torch.cat([centre - size / 2, centre + size / 2], dim=1)
    scores = torch.rand(count, classes + 1, generator=generator).softmax(-1) ** 0.5
    return boxes, scores


@pytest.mark.parametrize('method', ['gaussian', 'linear'])
def test_detectron2_soft_nms_through_multiclass_nms_matches_an_independent_implementation(method):
    from mmdet.models.layers import multiclass_nms
    from clipdense.models.utils import resolve_nms_cfg
    boxes, scores = clustered_detections(5)
    score_thr, max_num = 0.2, 25
    nms = dict(type='detectron2_soft_nms', method=method, sigma=0.5, min_score=0.001, iou_threshold=0.3)
    detections, labels = multiclass_nms(boxes, scores, score_thr, resolve_nms_cfg(nms), max_num)
    # the reference's order: background dropped, score > threshold (proposal-major), soft-NMS, the first max_num
    candidates = (scores[:, :-1] > score_thr).nonzero()
    candidate_scores = scores[candidates[:, 0], candidates[:, 1]]
    order, expected_scores = soft_nms_by_hand(boxes[candidates[:, 0]], candidate_scores, candidates[:, 1], method,
                                              0.5, 0.3, 0.001)
    assert len(order) > max_num  # the top-k cut matters
    assert (expected_scores < candidate_scores[order].double() - 1e-3).any()  # some scores were decayed
    order, expected_scores = order[:max_num], expected_scores[:max_num]
    assert torch.equal(labels, candidates[order, 1])
    torch.testing.assert_close(detections[:, :4], boxes[candidates[order, 0]])
    torch.testing.assert_close(detections[:, 4].double(), expected_scores, rtol=1e-5, atol=1e-6)
    assert (detections[1:, 4] <= detections[:-1, 4]).all()  # taken in decreasing decayed score


def test_detectron2_soft_nms_departs_from_mmcvs_where_documented():
    from mmcv.ops import soft_nms
    from clipdense.models.utils import detectron2_soft_nms
    options = dict(iou_threshold=0.5, sigma=0.5, min_score=0.001, method='gaussian')
    disjoint = torch.tensor([[0.0, 0, 10, 10], [20, 20, 30, 30]])
    at_prune = torch.tensor([0.9, 0.001])  # a score equal to the prune threshold: detectron2 drops it, mmcv keeps it
    assert detectron2_soft_nms(disjoint, at_prune, **options)[1].tolist() == [0]
    assert soft_nms(disjoint, at_prune, **options)[1].tolist() == [0, 1]
    flat = torch.tensor([[5.0, 5, 5, 9], [5, 5, 5, 9]])  # two zero-area boxes: IoU 0 here, 0/0 in mmcv
    dets, keep = detectron2_soft_nms(flat, torch.tensor([0.8, 0.6]), **options)
    assert keep.tolist() == [0, 1] and dets[:, 4].tolist() == pytest.approx([0.8, 0.6])
    assert torch.isnan(soft_nms(flat, torch.tensor([0.8, 0.6]), **options)[0][1, 4])
    tied = torch.tensor([[0.0, 0, 10, 10], [1, 0, 11, 10], [2, 0, 12, 10]])
    assert detectron2_soft_nms(tied, torch.tensor([0.5, 0.7, 0.7]), **options)[1][0] == 1  # ties: lowest index
    empty = detectron2_soft_nms(torch.zeros(0, 4), torch.zeros(0), **options)
    assert empty[0].shape == (0, 5) and empty[1].shape == (0,)


def test_soft_nms_options_are_checked():
    from clipdense.models.utils import resolve_nms_cfg
    from clipdense.utils import UserError
    assert resolve_nms_cfg(dict(type='nms', iou_threshold=0.5)) == dict(type='nms', iou_threshold=0.5)
    with pytest.raises(UserError, match='"gaussian" or "linear"'):
        resolve_nms_cfg(dict(type='detectron2_soft_nms', method='hard'))
    with pytest.raises(UserError, match="prune"):
        resolve_nms_cfg(dict(type='detectron2_soft_nms', prune=0.001))
    with pytest.raises(UserError, match='sigma'):
        resolve_nms_cfg(dict(type='detectron2_soft_nms', sigma=0))


def test_head_fuses_thresholds_then_soft_nms_then_keeps_the_top_k(registries):
    """RPN fusion before the threshold, soft-NMS on the network input's boxes, top-k, then rescaling."""
    from mmengine.config import ConfigDict
    head = registries.build(dict(tiny_config().model.roi_head.bbox_head, num_classes=3))
    boxes, scores = clustered_detections(7, count=40)
    rois = torch.cat([torch.zeros(len(boxes), 1), boxes], dim=1)
    cls_score = torch.log(scores)  # softmax gives back the normalised rows
    rpn = torch.rand(len(boxes), generator=torch.Generator().manual_seed(8)) * 0.5 + 0.5  # logits > 0
    cfg = ConfigDict(score_thr=0.3, max_per_img=10,
                     nms=dict(type='detectron2_soft_nms', method='gaussian', sigma=0.5, min_score=0.001,
                              iou_threshold=0.5))
    meta = dict(img_shape=(200, 200), scale_factor=(2.0, 2.0))
    result = head.predict_single(rois, cls_score, None, meta, True, cfg, rpn_scores=rpn,
                                 rpn_score_fusion='reference')
    probabilities = scores.double() / scores.double().sum(-1, keepdim=True)  # softmax of the log-scores
    fused = (probabilities * torch.logit(rpn.double())[:, None]).sqrt()[:, :-1]
    candidates = (fused > 0.3).nonzero()
    order, expected_scores = soft_nms_by_hand(boxes[candidates[:, 0]], fused[candidates[:, 0], candidates[:, 1]],
                                              candidates[:, 1], 'gaussian', 0.5, 0.5, 0.001)
    order, expected_scores = order[:10], expected_scores[:10]
    assert len(result) == 10
    assert torch.equal(result.labels, candidates[order, 1])
    torch.testing.assert_close(result.bboxes, boxes[candidates[order, 0]] / 2)
    torch.testing.assert_close(result.scores.double(), expected_scores, rtol=1e-5, atol=1e-6)


def test_configs_evaluate_as_the_reference_scripts():
    fine_tuned = Config.fromfile(CONFIG).model.test_cfg.rcnn
    assert fine_tuned.nms == dict(type='detectron2_soft_nms', method='gaussian', sigma=0.5, min_score=0.001,
                                  iou_threshold=0.5)
    assert fine_tuned.score_thr == 0.001 and fine_tuned.max_per_img == 100
    assert Config.fromfile(GT_CONFIG).model.test_cfg.rcnn.nms == dict(type='nms', iou_threshold=0.5)


# ---- region-concept pseudo labels (pretraining's teacher side) --------------------------------------------
def test_concept_pseudo_labels_match_an_independent_computation():
    from clipdense.models.roi_heads import concept_pseudo_labels
    generator = torch.Generator().manual_seed(11)
    concepts = torch.randn(6, 8, generator=generator) * 3  # un-normalised, as the reference's pool file
    regions = torch.cat([concepts[[2, 4]] * 5 + 0.02 * torch.randn(2, 8, generator=generator),  # near concepts
                         torch.randn(3, 8, generator=generator)])
    result = concept_pseudo_labels(regions, concepts, temperature=0.01, threshold=0.1)
    cosine = torch.stack([torch.stack([torch.dot(r, c) / (r.norm() * c.norm()) for c in concepts.double()])
                          for r in regions.double()])
    expected = torch.exp(cosine / 0.01) / torch.exp(cosine / 0.01).sum(1, keepdim=True)  # float64: e^100 fits
    torch.testing.assert_close(result.probabilities.double(), expected, rtol=1e-4, atol=1e-6)
    assert torch.equal(result.labels, expected.argmax(1)) and result.labels[:2].tolist() == [2, 4]
    assert torch.equal(result.kept, expected.max(1).values > 0.1)
    assert result.kept[:2].all()


def test_concept_threshold_is_strict_and_falls_back_to_every_region():
    from clipdense.models.roi_heads import concept_pseudo_labels
    concepts = torch.eye(4)
    regions = torch.tensor([[1.0, 1.0, 1.0, 1.0], [1.0, 0, 0, 0]])  # uniform: each concept exactly 0.25
    uniform = concept_pseudo_labels(regions, concepts, temperature=0.01, threshold=0.25)
    assert uniform.probabilities[0].tolist() == [0.25] * 4
    assert uniform.kept.tolist() == [False, True]  # 0.25 is not > 0.25
    nothing_passes = concept_pseudo_labels(regions[:1], concepts, temperature=0.01, threshold=0.25)
    assert nothing_passes.kept.tolist() == [True]  # the reference keeps every region rather than none


def test_empty_concept_pool_is_a_user_error(tmp_path):
    from clipdense.models.roi_heads import ConceptPoolError, concept_pseudo_labels, read_concept_pool
    with pytest.raises(ConceptPoolError, match='at least one concept'):
        concept_pseudo_labels(torch.randn(2, 8), torch.zeros(0, 8))
    (tmp_path / 'concepts.txt').write_text('\n\n')
    with pytest.raises(ConceptPoolError, match='one concept'):
        read_concept_pool(str(tmp_path / 'concepts.txt'))
    with pytest.raises(ConceptPoolError, match='not found'):
        read_concept_pool(str(tmp_path / 'missing.txt'))


def labeler_config(concepts):
    return dict(type='RegionConceptLabeler', clip=dict(name='test-tiny-rn', pretrained=None), concepts=concepts,
                text_cache_dir=None,
                roi_extractor=dict(type='RoIExtractor', out_channels=256, featmap_strides=[16],
                                   roi_layer=dict(type='clipdense.RoIAlign', output_size=4, sampling_ratio=0,
                                                  aligned=True)))


def test_concept_labeler_teacher_is_frozen_and_uses_the_text_path(registries, tmp_path):
    from clipdense.models.clip import TextClassifier
    from clipdense.models.roi_heads import ConceptPoolError, concept_pseudo_labels
    (tmp_path / 'nouns.txt').write_text('cat\nhot dog\n\ntraffic light\n')
    torch.manual_seed(0)
    labeler = registries.build(labeler_config(str(tmp_path / 'nouns.txt')))
    assert labeler.concepts.class_names == ['cat', 'hot dog', 'traffic light']
    text = TextClassifier(labeler.text_classifier.clip_model, 'regionclip81', clip_name='test-tiny-rn',
                          cache_dir=None, name_style='regionclip', normalize_prompts=False)
    torch.testing.assert_close(labeler.concept_embeddings, text(['cat', 'hot dog', 'traffic light']).embeddings)
    labeler.train()
    assert not labeler.teacher.training and not any(p.requires_grad for p in labeler.parameters())
    images = torch.randn(1, 3, 64, 64, requires_grad=True)
    rois = torch.tensor([[0, 0, 0, 64, 64], [0, 8, 8, 40, 48]], dtype=torch.float32)
    result = labeler(images, rois)
    assert not result.probabilities.requires_grad and result.probabilities.shape == (2, 3)
    whole_image = labeler.teacher.tower.visual(images.detach())  # the whole-image RoI is CLIP's own embedding
    expected = concept_pseudo_labels(whole_image, labeler.concept_embeddings)
    torch.testing.assert_close(result.probabilities[:1], expected.probabilities, rtol=1e-4, atol=1e-5)
    with pytest.raises(ConceptPoolError, match='empty'):
        labeler.set_concepts([])


def detectron2_rpn_proposals(state, images_bgr, nms_pre, max_per_img, nms_thresh, min_size=0.0):
    """detectron2's inference (``CLIPFastRCNN.offline_preprocess_image``, ResNet with STRIDE_IN_1X1 and batch norms in
    eval, ``StandardRPNHead``, ``DefaultAnchorGenerator``, ``Box2BoxTransform``, ``find_top_rpn_proposals``) written
    out on the official tensors: a list of (boxes, objectness logits) per unpadded 0-255 BGR image. C4: res4 (stride
    16, sizes 32-512 on one level, no size divisibility). FPN (``backbone.bottom_up.*``): res2..res5, laterals summed
    with the nearest 2x upsampled coarser level, output convs, P6 = max-pool(kernel 1, stride 2) of P5, one anchor
    size per level (32 at stride 4 .. 512 at stride 64), padding to 32; per level the ``nms_pre`` best, NMS per
    level, the ``max_per_img`` best over all levels."""
    import math

    from torchvision.ops import batched_nms

    fpn = 'backbone.bottom_up.stem.conv1.weight' in state
    resnet = 'backbone.bottom_up.' if fpn else 'backbone.'

    def conv_norm(x, name, stride=1, padding=0, relu=True):
        x = F.conv2d(x, state[name + '.weight'], state.get(name + '.bias'), stride=stride, padding=padding)
        if name + '.norm.weight' in state:
            scale = state[name + '.norm.weight'] * (state[name + '.norm.running_var'] + 1e-5).rsqrt()
            x = x * scale[:, None, None] + (state[name + '.norm.bias'] - state[name + '.norm.running_mean'] * scale)[
                :, None, None]
        return F.relu(x) if relu else x

    mean = torch.tensor([103.530, 116.280, 123.675]).view(3, 1, 1)
    divisor = 32 if fpn else 1  # the backbone's size_divisibility (ImageList.from_tensors pads with 0)
    height = -(-max(image.shape[1] for image in images_bgr) // divisor) * divisor
    width = -(-max(image.shape[2] for image in images_bgr) // divisor) * divisor
    x = torch.zeros(len(images_bgr), 3, height, width)
    for index, image in enumerate(images_bgr):
        x[index, :, :image.shape[1], :image.shape[2]] = image - mean
    x = F.max_pool2d(conv_norm(x, resnet + 'stem.conv1', 2, 3), kernel_size=3, stride=2, padding=1)
    features = []
    for stage in (2, 3, 4, 5):
        index = 0
        while f'{resnet}res{stage}.{index}.conv1.weight' in state:
            prefix, stride = f'{resnet}res{stage}.{index}.', 2 if stage > 2 and index == 0 else 1
            shortcut = conv_norm(x, prefix + 'shortcut', stride, relu=False) if index == 0 else x
            out = conv_norm(x, prefix + 'conv1', stride)  # STRIDE_IN_1X1
            out = conv_norm(out, prefix + 'conv2', padding=1)
            x = F.relu(conv_norm(out, prefix + 'conv3', relu=False) + shortcut)
            index += 1
        if index:
            features.append(x)
    if fpn:
        previous = conv_norm(features[3], 'backbone.fpn_lateral5', relu=False)
        levels = [conv_norm(previous, 'backbone.fpn_output5', padding=1, relu=False)]
        for stage in (4, 3, 2):
            previous = (conv_norm(features[stage - 2], f'backbone.fpn_lateral{stage}', relu=False)
                        + F.interpolate(previous, scale_factor=2.0, mode='nearest'))
            levels.insert(0, conv_norm(previous, f'backbone.fpn_output{stage}', padding=1, relu=False))
        levels.append(F.max_pool2d(levels[-1], kernel_size=1, stride=2, padding=0))
        strides, sizes = (4, 8, 16, 32, 64), [[32], [64], [128], [256], [512]]
    else:
        levels, strides, sizes = features[-1:], (16,), [[32, 64, 128, 256, 512]]
    head = 'proposal_generator.rpn_head.'
    convs = [head + 'conv'] if head + 'conv.weight' in state else sorted(
        key[:-len('.weight')] for key in state if key.startswith(head + 'conv.conv') and key.endswith('.weight'))
    level_boxes, level_logits = [], []
    for level, stride, level_sizes in zip(levels, strides, sizes):
        hidden = level
        for name in convs:
            hidden = F.relu(F.conv2d(hidden, state[name + '.weight'], state[name + '.bias'], padding=1))
        logits = F.conv2d(hidden, state[head + 'objectness_logits.weight'], state[head + 'objectness_logits.bias'])
        deltas = F.conv2d(hidden, state[head + 'anchor_deltas.weight'], state[head + 'anchor_deltas.bias'])
        count, _, rows, columns = logits.shape
        logits = logits.permute(0, 2, 3, 1).flatten(1)
        deltas = deltas.view(count, -1, 4, rows, columns).permute(0, 3, 4, 1, 2).flatten(1, -2)
        cell = []  # sizes outer, aspect ratios (h / w) inner, centred on 0
        for size in level_sizes:
            for ratio in (0.5, 1.0, 2.0):
                w = math.sqrt(size ** 2 / ratio)
                cell.append([-w / 2, -ratio * w / 2, w / 2, ratio * w / 2])
        shift_y, shift_x = torch.meshgrid(torch.arange(rows) * float(stride), torch.arange(columns) * float(stride),
                                          indexing='ij')
        shifts = torch.stack([shift_x.reshape(-1), shift_y.reshape(-1)] * 2, dim=1)
        anchors = (shifts[:, None] + torch.tensor(cell)[None]).reshape(-1, 4)
        widths, heights = anchors[:, 2] - anchors[:, 0], anchors[:, 3] - anchors[:, 1]
        centre_x, centre_y = anchors[:, 0] + 0.5 * widths, anchors[:, 1] + 0.5 * heights
        dw = deltas[..., 2].clamp(max=math.log(1000.0 / 16))
        dh = deltas[..., 3].clamp(max=math.log(1000.0 / 16))
        x_c, y_c = deltas[..., 0] * widths + centre_x, deltas[..., 1] * heights + centre_y
        w, h = torch.exp(dw) * widths, torch.exp(dh) * heights
        level_boxes.append(torch.stack([x_c - 0.5 * w, y_c - 0.5 * h, x_c + 0.5 * w, y_c + 0.5 * h], dim=-1))
        level_logits.append(logits)
    results = []
    for index, image in enumerate(images_bgr):
        boxes, scores, ids = [], [], []
        for level, (image_boxes, image_logits) in enumerate(zip(level_boxes, level_logits)):
            top_scores, order = image_logits[index].sort(descending=True)
            boxes.append(image_boxes[index][order[:nms_pre]])
            scores.append(top_scores[:nms_pre])
            ids.append(torch.full((len(scores[-1]), ), level))
        boxes, scores, ids = torch.cat(boxes), torch.cat(scores), torch.cat(ids)
        boxes[:, 0::2] = boxes[:, 0::2].clamp(0, image.shape[2])
        boxes[:, 1::2] = boxes[:, 1::2].clamp(0, image.shape[1])
        keep = ((boxes[:, 2] - boxes[:, 0]) > min_size) & ((boxes[:, 3] - boxes[:, 1]) > min_size)
        boxes, scores, ids = boxes[keep], scores[keep], ids[keep]
        keep = batched_nms(boxes, scores, ids, nms_thresh)[:max_per_img]
        results.append((boxes[keep], scores[keep]))
    return results


def offline_rpn_model(registries, tmp_path, **offline_rpn):
    """The tiny OV-COCO detector whose offline RPN holds ``detectron2_rpn_state_dict`` through the converter."""
    official = detectron2_rpn_state_dict()
    torch.save({'model': official, '__author__': 'detectron2'}, tmp_path / 'rpn.pth')
    load_rpn_converter().main([str(tmp_path / 'rpn.pth'), str(tmp_path / 'rpn_clipdense.pth')])
    cfg = tiny_config()
    cfg.model.offline_rpn.update(checkpoint=str(tmp_path / 'rpn_clipdense.pth'), **offline_rpn)
    torch.manual_seed(0)
    return registries.build(cfg.model), official


def load_rpn_converter():
    return load_tool('tools/model_converters/regionclip_rpn2clipdense.py')


def test_rpn_converter_loads_the_official_names_strictly(registries, tmp_path):
    model, official = offline_rpn_model(registries, tmp_path)
    state = model.offline_rpn.state_dict()
    torch.testing.assert_close(state['backbone.layer3.5.bn2.running_var'],
                               official['backbone.res4.5.conv2.norm.running_var'])
    torch.testing.assert_close(state['backbone.layer2.0.downsample.0.weight'],
                               official['backbone.res3.0.shortcut.weight'])
    torch.testing.assert_close(state['rpn_head.rpn_reg.weight'],
                               official['proposal_generator.rpn_head.anchor_deltas.weight'])
    converted = torch.load(tmp_path / 'rpn_clipdense.pth', weights_only=False)
    assert converted['meta']['dropped_from_source'] == 2  # the RoI heads
    model.offline_rpn.init_weights()  # mmengine's initialisers run, then the checkpoint is loaded again
    torch.testing.assert_close(model.offline_rpn.state_dict()['rpn_head.rpn_cls.bias'],
                               official['proposal_generator.rpn_head.objectness_logits.bias'])


def test_offline_rpn_proposals_match_detectron2s_rpn_inference(registries, tmp_path):
    """Through the detector's own preprocessing (BGR loaded → RGB, CLIP's mean/std, padding to 32), two images of
    different sizes: detectron2's proposals and raw logits, written out independently."""
    from mmdet.models.data_preprocessors import DetDataPreprocessor
    test_cfg = dict(nms_pre=300, max_per_img=40, nms=dict(type='nms', iou_threshold=0.7), min_bbox_size=0)
    model, official = offline_rpn_model(registries, tmp_path, test_cfg=test_cfg)
    model.eval()
    generator = torch.Generator().manual_seed(7)
    images_bgr = [torch.randint(0, 256, (3, 100, 130), generator=generator).float(),
                  torch.randint(0, 256, (3, 120, 90), generator=generator).float()]
    samples = [DetDataSample(metainfo=dict(img_shape=tuple(image.shape[1:]), ori_shape=tuple(image.shape[1:]),
                                           scale_factor=(1.0, 1.0))) for image in images_bgr]
    preprocessor = model.data_preprocessor
    assert isinstance(preprocessor, DetDataPreprocessor)
    batch = preprocessor(dict(inputs=[image.to(torch.uint8) for image in images_bgr], data_samples=samples))
    assert batch['inputs'].shape[-2:] == (128, 160)  # padded to 32: the offline RPN sees 120 x 130
    proposals = model.offline_proposals(batch['inputs'], batch['data_samples'])
    expected = detectron2_rpn_proposals(official, images_bgr, 300, 40, 0.7)
    for result, (boxes, logits) in zip(proposals, expected):
        assert len(result) == len(boxes) == 40
        torch.testing.assert_close(result.bboxes, boxes, rtol=0, atol=2e-3)
        torch.testing.assert_close(result.logits, logits, rtol=1e-5, atol=1e-5)  # raw, for the 'reference' fusion
        torch.testing.assert_close(result.scores, logits.sigmoid(), rtol=1e-5, atol=1e-5)


def test_offline_rpn_stays_frozen_in_eval_mode_during_training(registries, tmp_path):
    model, _ = offline_rpn_model(registries, tmp_path)
    model.train()
    offline = model.offline_rpn
    assert not offline.training and not any(module.training for module in offline.modules())
    before = {key: value.clone() for key, value in offline.state_dict().items()}
    losses = model.loss(torch.randn(1, 3, 128, 160), [sample([[10, 10, 60, 70], [50, 20, 150, 120]], [0, 1])])
    sum(value for key, value in losses.items() if 'loss' in key).backward()
    assert model.roi_head.bbox_head.fc_reg.weight.grad is not None  # the recognition branch trains
    assert all(not p.requires_grad and p.grad is None for p in offline.parameters())
    assert not any(module.training for module in offline.modules())
    assert all(torch.equal(before[key], value) for key, value in offline.state_dict().items())  # BN stats too


def test_offline_rpn_detects_with_the_reference_fusion(registries, tmp_path):
    model, _ = offline_rpn_model(registries, tmp_path, test_cfg=dict(nms_pre=200, max_per_img=30,
                                                                     nms=dict(iou_threshold=0.7), min_bbox_size=0))
    model.eval()
    model.roi_head.rpn_score_fusion = 'reference'
    model.roi_head.test_cfg.score_thr = 0.0  # random weights: the background takes nearly all the probability
    images = torch.randn(1, 3, 128, 160)
    with torch.no_grad():
        proposals = model.offline_proposals(images, [sample([[0, 0, 1, 1]], [0])])[0]
        result = model.predict(images, [sample([[0, 0, 1, 1]], [0], scale=2.0)])[0].pred_instances
    assert len(proposals) == 30 and (proposals.logits > 0).any()
    assert 0 < len(result) <= 100 and torch.isfinite(result.scores).all()
    assert result.bboxes[:, 2].max() <= 80 and result.bboxes[:, 3].max() <= 64  # rescaled to the original image


def test_bf16_lowers_the_towers_and_keeps_detections_fp32(registries, tmp_path):
    """model.precision='bf16': the backbone, the region tower and the offline RPN's convolutions run lowered;
    proposals, scores and boxes come back fp32 and close to fp32's."""
    model, _ = offline_rpn_model(registries, tmp_path, test_cfg=dict(nms_pre=200, max_per_img=30,
                                                                     nms=dict(iou_threshold=0.7), min_bbox_size=0))
    model.eval()
    model.roi_head.test_cfg.score_thr = 0.0
    images = torch.randn(1, 3, 128, 160)
    rois = torch.tensor([[0, 8.0, 8.0, 100.0, 90.0], [0, 40.0, 20.0, 150.0, 120.0]])
    embeddings = {}
    for precision in ('fp32', 'bf16'):
        model.set_precision(precision)
        assert model.roi_head.precision == precision
        with torch.no_grad():
            proposals = model.offline_proposals(images, [sample([[0, 0, 1, 1]], [0])])[0]
            detections = model.test_step(dict(inputs=images, data_samples=[
                sample([[0, 0, 1, 1]], [0], scale=2.0)]))[0].pred_instances
            features = model.extract_feat(images)
            embeddings[precision] = model.roi_head._bbox_forward(features, rois)['embeddings']
        assert proposals.bboxes.dtype == proposals.logits.dtype == torch.float32
        assert features[0].dtype == embeddings[precision].dtype == torch.float32
        assert detections.scores.dtype == detections.bboxes.dtype == torch.float32 and len(detections) > 0
    assert not torch.equal(embeddings['bf16'], embeddings['fp32'])  # the towers ran in bf16
    assert torch.cosine_similarity(embeddings['bf16'], embeddings['fp32']).min() > 0.99


def test_trainable_rpn_head_remains_an_option(registries):
    cfg = tiny_config()
    base = Config.fromfile(os.path.join(ROOT, 'configs/_base_/models/regionclip_r50_c4.py')).model.offline_rpn
    rpn_head = dict(base.rpn_head, in_channels=256, feat_channels=32, anchor_generator=dict(
        base.rpn_head.anchor_generator, scale_major=True), bbox_coder=dict(type='DeltaXYWHBBoxCoder'),
        loss_cls=dict(type='mmdet.CrossEntropyLoss', use_sigmoid=True), loss_bbox=dict(type='mmdet.L1Loss'))
    rpn_train = dict(assigner=dict(type='MaxIoUAssigner', pos_iou_thr=0.7, neg_iou_thr=0.3, min_pos_iou=0.3),
                     sampler=dict(type='RandomSampler', num=256, pos_fraction=0.5), allowed_border=-1, pos_weight=-1)
    proposal = dict(nms_pre=600, max_per_img=100, nms=dict(type='nms', iou_threshold=0.7), min_bbox_size=0)
    cfg.model.update(offline_rpn=None, rpn_head=rpn_head)
    cfg.model.train_cfg.update(rpn=rpn_train, rpn_proposal=proposal)
    cfg.model.test_cfg.update(rpn=proposal)
    torch.manual_seed(0)
    model = registries.build(cfg.model)
    model.train()
    losses = model.loss(torch.randn(1, 3, 128, 160), [sample([[10, 10, 60, 70]], [0])])
    assert 'loss_rpn_cls' in losses and 'loss_cls' in losses
    from clipdense.utils import UserError
    cfg.model.offline_rpn = tiny_config().model.offline_rpn
    with pytest.raises(UserError, match='not both'):
        registries.build(cfg.model)


def test_rpn_converter_and_loader_errors(registries, tmp_path, capsys):
    from clipdense.utils import run_cli
    converter = load_rpn_converter()
    for source, message in ((tmp_path / 'missing.pth', 'not found'), (tmp_path / 'odd.pth', 'unexpected key')):
        if source.name == 'odd.pth':
            torch.save({'model': dict(detectron2_rpn_state_dict(), **{'backbone.res5.0.conv1.weight': torch.zeros(1)})},
                       source)
        with pytest.raises(SystemExit) as stop:  # as the command line ends: one line, exit status 2
            run_cli(lambda: converter.main([str(source), str(tmp_path / 'out.pth')]))
        error = capsys.readouterr().err.strip()
        assert stop.value.code == 2 and len(error.splitlines()) == 1 and message in error and str(source) in error
    torch.save({'model': {'backbone.attnpool.c_proj.weight': torch.zeros(1)}}, tmp_path / 'gt_only.pth')
    with pytest.raises(SystemExit) as stop:  # a RegionCLIP checkpoint that carries no offline RPN
        run_cli(lambda: converter.main([str(tmp_path / 'gt_only.pth'), str(tmp_path / 'out.pth')]))
    error = capsys.readouterr().err.strip()
    assert stop.value.code == 2 and len(error.splitlines()) == 1 and 'offline_backbone' in error
    from clipdense.utils import UserError
    cfg = tiny_config()
    cfg.model.offline_rpn.checkpoint = str(tmp_path / 'absent.pth')
    with pytest.raises(UserError, match='regionclip_rpn2clipdense.py'):
        registries.build(cfg.model)
    torch.save({'state_dict': {'rpn_head.rpn_cls.weight': torch.zeros(1)}}, tmp_path / 'partial.pth')
    cfg.model.offline_rpn.checkpoint = str(tmp_path / 'partial.pth')
    with pytest.raises(UserError, match='lacks offline-RPN tensors'):
        registries.build(cfg.model)


def test_offline_rpn_loads_an_rpn_trained_by_the_tools(registries, tmp_path):
    """tools/train.py on the synthetic RPN config saves mmdet's RPN detector (its head as bbox_head.*, inside the
    runner's checkpoint): the synthetic RegionCLIP configs' offline RPN loads it strictly, every tensor in place."""
    torch.manual_seed(0)
    rpn = registries.build(Config.fromfile(os.path.join(ROOT, 'configs/regionclip/rpn_r18-tiny-c4_synthetic-world.py'))
                           .model)
    trained = rpn.state_dict()
    assert any(key.startswith('bbox_head.') for key in trained)
    path = tmp_path / 'iter_2.pth'
    torch.save({'meta': {'iter': 2}, 'state_dict': trained, 'optimizer': {}}, path)
    offline_rpn = Config.fromfile(os.path.join(
        ROOT, 'configs/regionclip/regionclip_clipdense-tiny-resnet-c4_synthetic-world.py')).model.offline_rpn
    loaded = registries.build(dict(offline_rpn, checkpoint=str(path))).state_dict()
    assert len(loaded) == len(trained)
    for key, value in trained.items():
        assert torch.equal(loaded[key.replace('bbox_head.', 'rpn_head.', 1)], value), key


# ---- the LVIS offline RPNs (R50-FPN: rpn_lvis_866.pth, rpn_lvis_866_lsj.pth) and the OV-LVIS configs ----------
LVIS_CONFIGS = {name: os.path.join(ROOT, f'configs/regionclip/regionclip_{name}-c4_ov-lvis.py')
                for name in ('r50', 'rn50x4')}
FPN_RPN_BASE = os.path.join(ROOT, 'configs/_base_/models/regionclip_r50_c4_fpn-rpn.py')
FPN_WIDTH = 16 * OFFLINE_WIDTH


def detectron2_fpn_rpn_state_dict(lsj, seed=6):
    """A tiny released LVIS RPN: ``rpn_lvis_866.pth`` (FrozenBN, FPN convs with bias, one RPN conv) or, with
    ``lsj``, ``rpn_lvis_866_lsj.pth`` (SyncBN in the ResNet and the FPN, two RPN convs); 3 anchors per location."""
    return detectron2_rpn_state_dict(blocks=(3, 4, 6, 3), anchors=3, seed=seed, fpn_width=FPN_WIDTH, sync_bn=lsj,
                                     rpn_convs=2 if lsj else 1)


def fpn_offline_rpn(registries, tmp_path, lsj, **test_cfg):
    """The configs' LVIS offline RPN (LSJ: the OV-LVIS fine-tuning config's; else the FPN base's, as zero-shot
    inference uses it), tiny, holding a released FPN RPN's tensors through the converter."""
    official = detectron2_fpn_rpn_state_dict(lsj)
    torch.save({'model': official, '__author__': 'detectron2'}, tmp_path / 'rpn.pth')
    load_rpn_converter().main([str(tmp_path / 'rpn.pth'), str(tmp_path / 'rpn_clipdense.pth')])
    config = tiny_offline_rpn(Config.fromfile(LVIS_CONFIGS['r50'] if lsj else FPN_RPN_BASE).model.offline_rpn)
    config.test_cfg.update(test_cfg)
    return registries.build(dict(config, checkpoint=str(tmp_path / 'rpn_clipdense.pth'))), official


@pytest.mark.parametrize('lsj', [False, True], ids=['rpn_lvis_866', 'rpn_lvis_866_lsj'])
def test_fpn_rpn_converter_loads_the_official_names_strictly(registries, tmp_path, lsj):
    rpn, official = fpn_offline_rpn(registries, tmp_path, lsj)  # OfflineRPN refuses a missing or extra tensor
    pairs = {'backbone.layer4.0.downsample.1.running_var': 'backbone.bottom_up.res5.0.shortcut.norm.running_var',
             'backbone.layer1.1.bn3.weight': 'backbone.bottom_up.res2.1.conv3.norm.weight',
             'neck.lateral_convs.0.conv.weight': 'backbone.fpn_lateral2.weight',
             'neck.fpn_convs.3.conv.weight': 'backbone.fpn_output5.weight',
             'rpn_head.rpn_reg.bias': 'proposal_generator.rpn_head.anchor_deltas.bias'}
    if lsj:
        pairs.update({'neck.fpn_convs.2.bn.running_mean': 'backbone.fpn_output4.norm.running_mean',
                      'neck.lateral_convs.1.bn.num_batches_tracked': 'backbone.fpn_lateral3.norm.num_batches_tracked',
                      'rpn_head.rpn_conv.1.conv.weight': 'proposal_generator.rpn_head.conv.conv1.weight'})
    else:
        pairs.update({'neck.lateral_convs.3.conv.bias': 'backbone.fpn_lateral5.bias',
                      'rpn_head.rpn_conv.weight': 'proposal_generator.rpn_head.conv.weight'})
    state = rpn.state_dict()
    for ours, theirs in pairs.items():
        assert torch.equal(state[ours], official[theirs]), ours
    meta = torch.load(tmp_path / 'rpn_clipdense.pth', weights_only=False)['meta']
    assert meta['layout'] == 'FPN' and meta['dropped_from_source'] == 2  # the RoI heads


@pytest.mark.parametrize('lsj', [False, True], ids=['rpn_lvis_866', 'rpn_lvis_866_lsj'])
def test_offline_fpn_rpn_proposals_match_detectron2s_multi_level_inference(registries, tmp_path, lsj):
    """Two images of different sizes (padded to 32): per level the 50 best, NMS per level, the 60 best over the
    five levels (more than one level's 50), against detectron2's inference written out independently."""
    rpn, official = fpn_offline_rpn(registries, tmp_path, lsj, nms_pre=50, max_per_img=60)
    generator = torch.Generator().manual_seed(8)
    images_bgr = [torch.randint(0, 256, (3, 100, 130), generator=generator).float(),
                  torch.randint(0, 256, (3, 120, 90), generator=generator).float()]
    proposals = rpn([image.flip(0) for image in images_bgr], 'RGB')  # the RPN flips to its BGR
    expected = detectron2_rpn_proposals(official, images_bgr, 50, 60, 0.7)
    for result, (boxes, logits) in zip(proposals, expected):
        assert len(result) == len(boxes) == 60
        torch.testing.assert_close(result.bboxes, boxes, rtol=0, atol=2e-3)
        torch.testing.assert_close(result.logits, logits, rtol=1e-5, atol=1e-5)


def test_rpn_converter_takes_the_offline_rpn_out_of_a_regionclip_checkpoint(registries, tmp_path):
    """A released RegionCLIP checkpoint saves CLIPFastRCNN whole: its offline RPN as ``offline_backbone.*`` and
    ``offline_proposal_generator.*`` beside the CLIP detector; the converter takes those and drops the rest."""
    official = detectron2_fpn_rpn_state_dict(lsj=True)
    regionclip = {'offline_' + key: value for key, value in official.items()
                  if key.startswith(('backbone.', 'proposal_generator.'))}
    regionclip.update({'backbone.attnpool.c_proj.weight': torch.randn(8, 8), 'lang_encoder.positional_embedding':
                       torch.randn(4, 8), 'roi_heads.box_predictor.bbox_pred.weight': torch.randn(4, 8)})
    torch.save({'model': official}, tmp_path / 'rpn.pth')
    torch.save({'model': regionclip}, tmp_path / 'regionclip.pth')
    converter = load_rpn_converter()
    from_file = converter.convert(str(tmp_path / 'rpn.pth'), str(tmp_path / 'from_file.pth'))
    from_regionclip = converter.convert(str(tmp_path / 'regionclip.pth'), str(tmp_path / 'from_regionclip.pth'))
    assert from_regionclip.keys() == from_file.keys()
    assert all(torch.equal(from_regionclip[key], value) for key, value in from_file.items())
    assert torch.load(tmp_path / 'from_regionclip.pth', weights_only=False)['meta']['dropped_from_source'] == 3
    config = tiny_offline_rpn(Config.fromfile(LVIS_CONFIGS['r50']).model.offline_rpn)
    registries.build(dict(config, checkpoint=str(tmp_path / 'from_regionclip.pth')))  # strict


@pytest.mark.parametrize('name', ['r50', 'rn50x4'])
def test_ov_lvis_configs_hold_the_reference_recipe_and_detect(registries, name):
    from clipdense.models.clip import Vocabulary
    cfg = Config.fromfile(LVIS_CONFIGS[name])
    assert cfg.train_cfg.max_iters == 180000 and cfg.optim_wrapper.optimizer.lr == 0.002
    assert cfg.param_scheduler[0].end == 5000 and cfg.param_scheduler[1].milestones == [120000, 160000]
    assert cfg.train_dataloader.batch_size * 8 == cfg.auto_scale_lr.base_batch_size == 16
    assert cfg.train_dataloader.dataset.oversample_thr == 0.001  # REPEAT_THRESHOLD
    model = cfg.model
    assert len(Vocabulary.from_file(model.vocabulary)) == 1203
    assert len(Vocabulary.from_file(model.train_vocabulary)) == 866
    head = model.roi_head
    assert head.rpn_score_fusion == 'reference'  # MULTIPLY_RPN_SCORE
    assert head.bbox_head.loss_cls.gamma is None and head.bbox_head.loss_cls.background_weight == 0.8
    assert model.test_cfg.rcnn == dict(score_thr=0.02, max_per_img=300, nms=dict(
        type='detectron2_soft_nms', method='gaussian', sigma=0.5, min_score=0.001, iou_threshold=0.5),
        mask_thr_binary=0.5)
    rpn = model.offline_rpn
    assert rpn.size_divisor == 32 and rpn.neck.num_outs == 5 and rpn.rpn_head.num_convs == 2
    assert rpn.neck.norm_cfg == dict(type='BN', requires_grad=False)
    assert rpn.rpn_head.anchor_generator.strides == [4, 8, 16, 32, 64] and rpn.rpn_head.anchor_generator.scales == [8]
    assert rpn.test_cfg == dict(nms_pre=1000, max_per_img=1000, nms=dict(type='nms', iou_threshold=0.7),
                                min_bbox_size=0)
    extractor = head.bbox_roi_extractor
    expected = {'r50': ('RN50', 14, 1024, 1024), 'rn50x4': ('RN50x4', 18, 1280, 640)}[name]
    assert (model.clip.name, extractor.roi_layer.output_size, extractor.out_channels,
            head.bbox_head.in_channels) == expected
    # MASK_ON: MaskRCNNConvUpsampleHead, NUM_CONV 0, CONV_DIM 256, class-agnostic, on res5; masks of the predicted side
    res5_channels, mask_side = {'r50': (2048, 14), 'rn50x4': (2560, 18)}[name]
    assert head.mask_head == dict(type='Detectron2MaskHead', num_convs=0, in_channels=res5_channels,
                                  conv_out_channels=256, num_classes=1, class_agnostic=True,
                                  loss_mask=dict(type='mmdet.CrossEntropyLoss', use_mask=True, loss_weight=1.0))
    assert model.train_cfg.rcnn.mask_size == mask_side and cfg.test_evaluator.metric == ['bbox', 'segm']
    loading = next(step for step in cfg.train_pipeline if step.type == 'mmdet.LoadAnnotations')
    assert loading.with_mask and loading.poly2mask is False  # polygon targets, rasterised per RoI
    tiny = tiny_config(LVIS_CONFIGS[name])
    tiny.model.test_cfg.rcnn.score_thr = 0.0  # random weights: the background takes nearly all the probability
    torch.manual_seed(0)
    detector = registries.build(tiny.model).eval()
    with torch.no_grad():
        result = detector.predict(torch.randn(1, 3, 128, 160), [sample([[0, 0, 1, 1]], [0], scale=2.0)])
    result = result[0].pred_instances
    assert 0 < len(result) <= 300 and torch.isfinite(result.scores).all()
    assert result.masks.dtype == torch.bool and result.masks.shape == (len(result), 64, 80)  # the original image


def paste_by_hand(probabilities, boxes, height, width):
    """Mask probabilities (N, S, S) pasted into an image: each pixel centre mapped into its box's mask and sampled
    bilinearly (outside the mask: 0), the whole image at once (detectron2's _do_paste_mask without its crop)."""
    x0, y0, x1, y1 = boxes.split(1, dim=1)
    xs = ((torch.arange(width) + 0.5 - x0) / (x1 - x0) * 2 - 1)[:, None, :].expand(-1, height, -1)
    ys = ((torch.arange(height) + 0.5 - y0) / (y1 - y0) * 2 - 1)[:, :, None].expand(-1, -1, width)
    return F.grid_sample(probabilities[:, None], torch.stack([xs, ys], dim=3), align_corners=False)[:, 0]


def test_lvis_masks_are_the_mask_head_on_the_final_boxes_res5_pasted_at_one_half(registries):
    """The reference's test path: the final detections' boxes (network-input pixels) → RoIAlign on res4 → layer4 →
    deconv + ReLU → 1x1 predictor → sigmoid, pasted with the boxes rescaled to the original image, >= 0.5."""
    tiny = tiny_config(LVIS_CONFIGS['r50'])
    tiny.model.test_cfg.rcnn.update(score_thr=0.0, max_per_img=20)
    torch.manual_seed(0)
    detector = registries.build(tiny.model).eval()
    head = detector.roi_head.mask_head
    with torch.no_grad():
        head.conv_logits.weight.normal_(std=0.05)  # random masks that are neither empty nor full
        head.conv_logits.bias.fill_(0.1)
        images = torch.randn(1, 3, 128, 160)
        result = detector.predict(images, [sample([[0, 0, 1, 1]], [0], scale=0.5)])[0].pred_instances
        boxes = result.bboxes * 0.5  # back to network-input pixels (exact: a power of two)
        rois = torch.cat([boxes.new_zeros(len(boxes), 1), boxes], dim=1)
        res5 = detector.backbone.run_res5(detector.roi_head.bbox_roi_extractor(detector.extract_feat(images), rois))
        hidden = F.relu(F.conv_transpose2d(res5, head.upsample.weight, head.upsample.bias, stride=2))
        logits = F.conv2d(hidden, head.conv_logits.weight, head.conv_logits.bias)
        expected = paste_by_hand(logits[:, 0].sigmoid(), result.bboxes, 256, 320) >= 0.5
    assert 0 < len(result) <= 20 and logits.shape[1:] == (1, 4, 4)
    assert torch.equal(result.masks, expected)
    assert 0 < expected.sum() < expected.numel() / 2


def rasterise_in_box_by_hand(polygon, box, side):
    """detectron2's rasterize_polygons_within_box: the polygon shifted to the box, scaled to side x side, filled."""
    from pycocotools import mask as mask_utils
    points = np.array(polygon, dtype=np.float64)
    points[0::2] = (points[0::2] - box[0]) * side / max(box[2] - box[0], 0.1)
    points[1::2] = (points[1::2] - box[1]) * side / max(box[3] - box[1], 0.1)
    return mask_utils.decode(mask_utils.merge(mask_utils.frPyObjects([list(points)], side, side))).astype(bool)


def test_lvis_mask_loss_is_detectron2s_on_the_positive_rois(registries):
    """Mean binary cross-entropy of the class-agnostic logits of every positive RoI (res5 of the box branch) against
    its ground-truth polygon rasterised inside the RoI at the predicted side; it trains the mask head and layer4."""
    from mmdet.structures.mask import PolygonMasks
    tiny = tiny_config(LVIS_CONFIGS['r50'])
    torch.manual_seed(0)
    detector = registries.build(tiny.model)
    detector.init_weights()
    detector.train()
    polygons = [[10.0, 12.0, 60.0, 20.0, 30.0, 70.0], [90.0, 30.0, 150.0, 30.0, 150.0, 100.0, 120.0, 60.0]]
    boxes = [[6.0, 8.0, 64.0, 74.0], [86.0, 26.0, 154.0, 104.0]]
    data = sample(boxes, [0, 1])
    data.gt_instances.masks = PolygonMasks([[np.array(polygon)] for polygon in polygons], 128, 160)
    images = torch.randn(1, 3, 128, 160)
    features = detector.extract_feat(images)
    # the proposals are the ground-truth boxes; with the ground truth added, every RoI is one of them, positive
    losses = detector.roi_head.loss(features, [InstanceData(bboxes=torch.tensor(boxes))], [data])
    head = detector.roi_head.mask_head
    with torch.no_grad():
        rois = torch.cat([torch.zeros(2, 1), torch.tensor(boxes)], dim=1)
        logits = head(detector.backbone.run_res5(detector.roi_head.bbox_roi_extractor(features, rois)))[:, 0]
        targets = torch.stack([torch.from_numpy(rasterise_in_box_by_hand(polygon, box, 4)).float()
                               for polygon, box in zip(polygons, boxes)])
    assert 0 < targets.sum() < targets.numel()
    expected = F.binary_cross_entropy_with_logits(logits, targets)
    torch.testing.assert_close(losses['loss_mask'].sum(), expected, rtol=1e-5, atol=1e-6)
    losses['loss_mask'].backward()
    assert head.upsample.weight.grad.abs().sum() > 0 and head.conv_logits.weight.grad.abs().sum() > 0
    layer4 = detector.backbone.tower.visual.layer4  # (its residual convs start at zero: open_clip's bn3 init)
    assert any(p.grad is not None and p.grad.abs().sum() > 0 for p in layer4.parameters())


def test_mask_predictor_starts_as_detectron2s(registries):
    """The released pretrained RegionCLIP has no mask head: it starts as detectron2 draws it (predictor N(0, 0.001),
    zero biases; the deconvolution He normal on fan-out)."""
    tiny = tiny_config(LVIS_CONFIGS['r50'])
    torch.manual_seed(0)
    detector = registries.build(tiny.model)
    detector.init_weights()
    head = detector.roi_head.mask_head
    assert 0.0005 < head.conv_logits.weight.std().item() < 0.002 and not head.conv_logits.bias.any()
    fan_out = head.upsample.weight.shape[0] * 4  # ConvTranspose2d (in, out, 2, 2): torch's fan-out is in x 2 x 2
    assert head.upsample.weight.std().item() == pytest.approx((2 / fan_out) ** 0.5, rel=0.1)
    assert not head.upsample.bias.any()



# ---- zero-shot settings (test_zeroshot_inference.sh) and the RN50x4 variants ------------------------------------
# (config, the offline RPN's NMS or None for ground-truth boxes, score threshold, detections, classes)
ZERO_SHOT = {'zero-shot-gt-boxes_ov-coco': (None, 0.001, 100, 65), 'zero-shot-rpn_ov-coco': (0.9, 0.001, 100, 65),
             'zero-shot-gt-boxes_ov-lvis': (None, 0.0001, 300, 1203), 'zero-shot-rpn_ov-lvis': (0.9, 0.02, 300, 1203)}
RN50X4 = {'r50': ('RN50', 14, 1024, 1024), 'rn50x4': ('RN50x4', 18, 1280, 640)}


@pytest.mark.parametrize('name', ['r50', 'rn50x4'])
@pytest.mark.parametrize('setting', sorted(ZERO_SHOT))
def test_zero_shot_configs_hold_the_reference_settings_and_detect(registries, setting, name):
    """Each zero-shot command of the reference, RN50 and RN50x4: ground-truth boxes without an RPN, or the LVIS
    R50-FPN RPN (rpn_lvis_866, for COCO too) at NMS 0.9 with raw-logit fusion; no box deltas; hard NMS 0.5."""
    from clipdense.models.clip import Vocabulary
    path = os.path.join(ROOT, f'configs/regionclip/regionclip_{name}-c4_{setting}.py')
    cfg = Config.fromfile(path)
    rpn_nms, score_thr, detections, classes = ZERO_SHOT[setting]
    model = cfg.model
    assert cfg.train_dataloader is None and model.train_cfg is None
    assert len(Vocabulary.from_file(model.vocabulary)) == classes
    assert model.test_cfg.rcnn == dict(score_thr=score_thr, max_per_img=detections,
                                       nms=dict(type='nms', iou_threshold=0.5))
    if rpn_nms is None:
        assert model.offline_rpn is None and model.test_proposals == 'gt'
    else:
        assert model.offline_rpn.test_cfg.nms.iou_threshold == rpn_nms and model.offline_rpn.rpn_head.num_convs == 1
        assert model.offline_rpn.neck.get('norm_cfg') is None  # rpn_lvis_866, not the LSJ one
        assert model.offline_rpn.checkpoint == 'checkpoints/rpn_lvis_866_clipdense.pth'
        assert model.roi_head.rpn_score_fusion == 'reference' and model.roi_head.bbox_head.with_reg is False
    extractor = model.roi_head.bbox_roi_extractor
    assert (model.clip.name, extractor.roi_layer.output_size, extractor.out_channels,
            model.roi_head.bbox_head.in_channels) == RN50X4[name]
    tiny = tiny_config(path)
    tiny.model.test_cfg.rcnn.score_thr = 0.0
    torch.manual_seed(0)
    detector = registries.build(tiny.model).eval()
    with torch.no_grad():
        result = detector.predict(torch.randn(1, 3, 128, 160), [sample([[8, 8, 60, 90]], [0])])[0].pred_instances
    assert len(result) <= detections and torch.isfinite(result.scores).all()
    if rpn_nms is None:  # the ground-truth box, as it is, once per class
        assert len(result) == 3 and torch.equal(result.bboxes, torch.tensor([[8.0, 8.0, 60.0, 90.0]]).expand(3, 4))


def test_rn50x4_ov_coco_config_is_the_rn50_recipe_with_rn50x4():
    r50 = Config.fromfile(CONFIG)
    rn50x4 = Config.fromfile(os.path.join(ROOT, 'configs/regionclip/regionclip_rn50x4-c4_ov-coco.py'))
    for key in ('train_cfg', 'optim_wrapper', 'param_scheduler', 'train_pipeline'):
        assert rn50x4[key] == r50[key], key
    assert rn50x4.model.offline_rpn == r50.model.offline_rpn and rn50x4.model.test_cfg == r50.model.test_cfg
    extractor = rn50x4.model.roi_head.bbox_roi_extractor
    assert (rn50x4.model.clip.name, extractor.roi_layer.output_size, extractor.out_channels,
            rn50x4.model.roi_head.bbox_head.in_channels) == RN50X4['rn50x4']


# ---- the learning proof -----------------------------------------------------------------------------------------
# Measured with this test's own run on the embedded clipdense-tiny-resnet (seed 0, 2 CPU cores), box AP50 (%) on the
# 40 val scenes of seed 0 over all 64 classes (48 base with boxes in training, 16 novel; chance 1.6). See
# configs/regionclip/README.md.
MEASURED = dict(zero_shot_gt_base=68.8, zero_shot_gt_novel=69.1, zero_shot_rpn_base=24.8, zero_shot_rpn_novel=25.7,
                fine_tuned_base=29.8, fine_tuned_novel=29.5)
# Top-1 (%) of the pretraining's concept pseudo labels (tools/regionclip_concept_labels.py, 100 proposals per val
# scene, the 64 class names as the concept pool) on the proposals that overlap an object at IoU >= 0.5 (chance 1.6).
MEASURED_CONCEPT_LABELS = dict(base=45.5, novel=44.1)
SYNTHETIC_CONFIGS = os.path.join(ROOT, 'configs/regionclip')


def synthetic_world_config(name: str, world, work_dir, rpn_checkpoint=None) -> Config:
    cfg = Config.fromfile(os.path.join(SYNTHETIC_CONFIGS, name))
    for loader in ('train_dataloader', 'val_dataloader', 'test_dataloader'):
        if cfg.get(loader):
            cfg[loader].dataset.data_root = str(world)
    for evaluator in ('val_evaluator', 'test_evaluator'):
        cfg[evaluator].ann_file = str(world / 'annotations/instances_val.json')
    if cfg.model.type == 'RegionCLIP':
        cfg.model.text_cache_dir = None
        if cfg.model.offline_rpn is not None:
            cfg.model.offline_rpn.checkpoint = rpn_checkpoint
    cfg.work_dir = str(work_dir)
    cfg.randomness = dict(seed=0)
    return cfg


@pytest.mark.slow
def test_regionclip_learns_on_the_synthetic_world(synthetic_world_2000, tmp_path_factory):
    """Zero-shot, the embedded ResNet CLIP's region read-out recognises base and novel classes in ground-truth boxes
    far above chance; with the offline RPN trained on the 48 base classes, fine-tuning on them raises base AP50 above
    zero-shot detection on that RPN's proposals and keeps novel AP50 above it, novel classes are detected through
    their text embeddings alone (random novel text rows collapse them), and the pretraining's concept pseudo labels
    name the objects' proposals far above chance."""
    from mmengine.runner import Runner

    from clipdense.registry import register_all_modules
    register_all_modules()
    world = synthetic_world_2000

    def run(name, rpn_checkpoint=None):
        cfg = synthetic_world_config(name, world, tmp_path_factory.mktemp('regionclip'), rpn_checkpoint)
        return Runner.from_cfg(cfg)

    rpn = run('rpn_r18-tiny-c4_synthetic-world.py')
    rpn.train()
    rpn_checkpoint = os.path.join(rpn.work_dir, 'iter_400.pth')
    labels = tmp_path_factory.mktemp('concept_labels') / 'labels.json'
    run_tool('tools/regionclip_concept_labels.py',
             os.path.join(SYNTHETIC_CONFIGS, 'regionclip_clipdense-tiny-resnet-c4_concept-labels_synthetic-world.py'),
             '--images', str(world / 'images' / 'validation'), '--out', str(labels), '--cfg-options',
             f'model.offline_rpn.checkpoint={rpn_checkpoint}', 'model.offline_rpn.test_cfg.max_per_img=100',
             'concept_labeler.text_cache_dir=None')
    concept_accuracy = concept_label_accuracy(labels, world / 'annotations' / 'instances_val.json')
    zero_shot_gt = run('regionclip_clipdense-tiny-resnet-c4_zero-shot-gt-boxes_synthetic-world.py').test()
    zero_shot_rpn = run('regionclip_clipdense-tiny-resnet-c4_zero-shot-rpn_synthetic-world.py', rpn_checkpoint).test()
    runner = run('regionclip_clipdense-tiny-resnet-c4_synthetic-world.py', rpn_checkpoint)
    runner.train()
    trained = runner.test()
    classifier = runner.model.roi_head.bbox_head.fc_cls
    novel_rows = (~runner.model.seen_classes)[classifier.name_to_class.cpu()]
    generator = torch.Generator().manual_seed(0)
    random_rows = F.normalize(torch.randn(int(novel_rows.sum()), classifier.text_embeddings.shape[1],
                                          generator=generator), dim=-1)
    classifier.text_embeddings[novel_rows] = random_rows.to(classifier.text_embeddings)
    random_text = runner.test()
    print('RegionCLIP on the synthetic world: zero-shot on ground-truth boxes', zero_shot_gt, 'on the RPN',
          zero_shot_rpn, 'fine-tuned', trained, 'random novel text', random_text, 'concept labels', concept_accuracy)

    def ap50(result):
        return result['coco/bbox_AP50_base'], result['coco/bbox_AP50_novel']

    for name, result in (('zero_shot_gt', zero_shot_gt), ('zero_shot_rpn', zero_shot_rpn), ('fine_tuned', trained)):
        base, novel = ap50(result)
        assert base == pytest.approx(MEASURED[f'{name}_base'], abs=8), name
        assert novel == pytest.approx(MEASURED[f'{name}_novel'], abs=8), name
    assert min(ap50(zero_shot_gt)) > 30  # chance: 1.6
    # fine-tuning raises base AP50 (measured +5.0) and keeps novel above zero-shot detection on the proposals as the
    # reference runs it (+3.8; README: not above zero-shot under the fine-tuned config's own test settings)
    assert ap50(trained)[0] > ap50(zero_shot_rpn)[0] + 2
    assert ap50(trained)[1] > ap50(zero_shot_rpn)[1] + 1
    assert ap50(trained)[1] > ap50(random_text)[1] + 10
    for split in ('base', 'novel'):
        assert concept_accuracy[split] == pytest.approx(MEASURED_CONCEPT_LABELS[split], abs=10), split
        assert concept_accuracy[split] > 25, split


def concept_label_accuracy(labels_file, annotations_file) -> dict:
    """Top-1 (%) of the labelled regions overlapping a ground-truth object at IoU >= 0.5 (its best match), per split:
    the concept named is that object's class."""
    from collections import Counter

    from pycocotools.coco import COCO
    from torchvision.ops import box_iou
    labels, truth = COCO(str(labels_file)), COCO(str(annotations_file))

    def xyxy(annotations):
        return torch.tensor([[x, y, x + w, y + h] for x, y, w, h in (a['bbox'] for a in annotations)])

    truth_images = {os.path.basename(image['file_name']): image_id for image_id, image in truth.imgs.items()}
    counts = Counter()
    for image_id, image in labels.imgs.items():
        regions = labels.imgToAnns[image_id]
        objects = truth.imgToAnns[truth_images[os.path.basename(image['file_name'])]]
        if not regions or not objects:
            continue
        best_iou, best_object = box_iou(xyxy(regions), xyxy(objects)).max(dim=1)
        for region, iou, index in zip(regions, best_iou.tolist(), best_object.tolist()):
            if iou >= 0.5:
                category = truth.cats[objects[index]['category_id']]
                counts[category['split']] += 1
                counts[category['split'], 'correct'] += labels.cats[region['category_id']]['name'] == category['name']
    return {split: 100 * counts[split, 'correct'] / counts[split] for split in ('base', 'novel')}


def test_ov_lvis_training_step_takes_its_mask_loss_from_the_datasets_polygons(registries, tmp_path):
    """The OV-LVIS config's own train dataset and pipeline on an LVIS-format json: its polygons reach the mask
    head as polygons (resized and flipped with the image) and a training step has a finite mask loss."""
    import cv2
    from mmdet.structures.mask import PolygonMasks
    from test_ov_protocol import lvis_json, write_json

    from clipdense.datasets.ov_splits import ov_lvis_train
    from clipdense.registry import DATASETS
    root = tmp_path / 'lvis_v1'
    write_json(root / 'annotations' / 'lvis_v1_train_ov_base.json', ov_lvis_train(lvis_json()))
    (root / 'train2017').mkdir()
    for image_id in (1, 2, 3):
        cv2.imwrite(str(root / 'train2017' / f'{image_id:012d}.jpg'), np.full((40, 60, 3), 40 * image_id, np.uint8))
    cfg = tiny_config(LVIS_CONFIGS['r50'])
    wrapped = cfg.train_dataloader.dataset
    dataset = DATASETS.build(dict(wrapped, dataset=dict(wrapped.dataset, data_root=str(root))))
    packed = dataset[0]
    masks = packed['data_samples'].gt_instances.masks
    assert isinstance(masks, PolygonMasks) and len(masks) == len(packed['data_samples'].gt_instances.bboxes) > 0
    assert (masks.height, masks.width) == tuple(packed['inputs'].shape[1:])
    torch.manual_seed(0)
    detector = registries.build(cfg.model)
    detector.init_weights()
    detector.train()
    batch = detector.data_preprocessor(dict(inputs=[packed['inputs']], data_samples=[packed['data_samples']]), True)
    losses = detector.loss(batch['inputs'], batch['data_samples'])
    assert torch.isfinite(losses['loss_mask']).all() and losses['loss_mask'].sum() > 0
