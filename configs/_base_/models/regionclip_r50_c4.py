# RegionCLIP (microsoft/RegionCLIP, CLIPFastRCNN with CLIPRes5ROIHeads) on mmdet 3.x, C4 layout with CLIP RN50:
# the CLIP ModifiedResNet up to res4 (stride 16; stem + res2 frozen, every BN frozen), RoIAlign (aligned) at 14x14 on
# res4, CLIP's layer4 (-> 7x7) and attention pool (1024-d region embedding), cosine with the vocabulary's text
# embeddings x 100 (1/0.01) and a fixed zero background logit, class-agnostic box deltas from the un-normalised
# embedding (weights 10/10/5/5 = stds 0.1/0.1/0.2/0.2, L1 = smooth-L1 with beta 0). Text: the same CLIP's text tower,
# per class the mean of the un-normalised embeddings over '{}.' + the 80 ImageNet templates. Input: CLIP's
# mean/std on 0-1 RGB. RN50x4: clip name 'RN50x4', pooler 18, in_channels 640.
# Proposals: the reference's frozen ("offline") detectron2 R50-C4 RPN (OFFLINE_RPN_CONFIG
# mask_rcnn_R_50_C4_1x_ovd_FSD.yaml, BB_RPN_WEIGHTS rpn_coco_48.pth), always in eval mode, in training too: its own
# R50 (caffe style = STRIDE_IN_1X1, FrozenBN) up to res4 on BGR pixels minus detectron2's mean (std 1), no size
# divisibility; anchors 32-512 x ratios 0.5/1/2 (sizes outer), offset 0; 6000 per level before NMS 0.7, 1000 after;
# objectness kept as raw logits. Its weights: offline_rpn.checkpoint, the released RPN converted by
# tools/model_converters/regionclip_rpn2clipdense.py. (RegionCLIP also takes a trainable mmdet rpn_head instead,
# with train_cfg.rpn/rpn_proposal and test_cfg.rpn, offline_rpn=None.)
model = dict(
    type='RegionCLIP',
    clip=dict(name='RN50', pretrained='openai'),
    templates='regionclip81',
    name_style='regionclip',
    normalize_prompts=False,
    data_preprocessor=dict(
        type='mmdet.DetDataPreprocessor',
        mean=[122.7709383, 116.7460125, 104.09373615],
        std=[68.5005327, 66.6321579, 70.32316305],
        bgr_to_rgb=True,
        pad_size_divisor=32),
    backbone=dict(type='CLIPResNetC4', frozen_stages=1),
    rpn_head=None,
    offline_rpn=dict(
        type='OfflineRPN',
        backbone=dict(type='mmdet.ResNet', depth=50, num_stages=3, strides=(1, 2, 2), dilations=(1, 1, 1),
                      out_indices=(2, ), norm_cfg=dict(type='BN', requires_grad=False), norm_eval=True,
                      style='caffe', init_cfg=None),
        rpn_head=dict(
            type='mmdet.RPNHead',
            in_channels=1024,
            feat_channels=1024,
            # detectron2's DefaultAnchorGenerator: sizes 16 x (2..32), for each size the ratios (scale_major=False)
            anchor_generator=dict(type='AnchorGenerator', scales=[2, 4, 8, 16, 32], ratios=[0.5, 1.0, 2.0],
                                  strides=[16], scale_major=False, center_offset=0.0),
            # detectron2's Box2BoxTransform(1, 1, 1, 1): dw, dh clamped above only (at log(1000/16)); mmdet's
            # centre clamp is its one-sided switch, set out of reach
            bbox_coder=dict(type='DeltaXYWHBBoxCoder', target_means=[0.0] * 4, target_stds=[1.0] * 4,
                            add_ctr_clamp=True, ctr_clamp=1e8)),
        mean=[103.53, 116.28, 123.675],
        std=[1.0, 1.0, 1.0],
        channel_order='BGR',
        size_divisor=0,
        test_cfg=dict(nms_pre=6000, max_per_img=1000, nms=dict(type='nms', iou_threshold=0.7), min_bbox_size=0),
        checkpoint=None),
    roi_head=dict(
        type='RegionCLIPRoIHead',
        rpn_score_fusion=None,
        bbox_roi_extractor=dict(
            type='RoIExtractor',
            roi_layer=dict(type='clipdense.RoIAlign', output_size=14, sampling_ratio=0, aligned=True),
            out_channels=1024,
            featmap_strides=[16]),
        bbox_head=dict(
            type='RegionCLIPBBoxHead',
            in_channels=1024,
            temperature=100.0,
            bbox_coder=dict(type='DeltaXYWHBBoxCoder', target_means=[0.0] * 4, target_stds=[0.1, 0.1, 0.2, 0.2]),
            # OV-COCO: focal-scaled CE (gamma 0.5), background x 0.2; OV-LVIS: gamma=None, background_weight=0.8.
            loss_cls=dict(type='FocalScaledCrossEntropyLoss', gamma=0.5, background_weight=0.2, loss_weight=1.0),
            loss_bbox=dict(type='mmdet.L1Loss', loss_weight=1.0))),
    train_cfg=dict(
        rcnn=dict(
            # 512 RoIs per image, a quarter foreground at IoU >= 0.5, ground-truth boxes mixed in.
            assigner=dict(type='MaxIoUAssigner', pos_iou_thr=0.5, neg_iou_thr=0.5, min_pos_iou=0.5,
                          match_low_quality=False, ignore_iof_thr=-1),
            sampler=dict(type='RandomSampler', num=512, pos_fraction=0.25, neg_pos_ub=-1, add_gt_as_proposals=True),
            pos_weight=-1,
            debug=False)),
    test_cfg=dict(
        # detectron2's test defaults as the yamls keep them: score > 0.001 (SCORE_THRESH_TEST), per-class hard NMS 0.5,
        # 100 per image. The fine-tuned evaluations (test_transfer_learning.sh) switch to soft-NMS in their configs:
        # nms=dict(type='detectron2_soft_nms', ...), run by RegionCLIPBBoxHead (clipdense/models/utils/soft_nms.py).
        rcnn=dict(score_thr=0.001, nms=dict(type='nms', iou_threshold=0.5), max_per_img=100)))
