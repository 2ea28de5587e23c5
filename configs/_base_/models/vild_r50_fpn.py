# ViLD (tensorflow/tpu projects/vild, configs/vild_resnet.yaml and vild_head.py) on mmdet 3.x: Mask R-CNN R50-FPN
# (P2-P6, 256 channels). The reference's ResNet (ViLDResNet: the stem's max pool padded as TF's "same", every BN
# scale starting at one), SyncBN everywhere with TF's epsilon 1e-4 and momentum 0.997 (torch's 0.003; mmengine
# reverts SyncBN to BN in single-process runs). The reference's FPN (ViLDFPN: batch norm on every output, P6 a
# stride-2 convolution of P5) and RPN (ViLDRPNHead: 2 convs shared across levels, batch norms per level, Huber
# box loss with delta 1/9 averaged per level), 3 anchors per position (size 8 x stride, as the reference's); RoIs
# pooled from P2-P6 by scale; box head of 4 conv (256) + 2 FC (1024) with norm, a linear projection to CLIP's
# 512-d space, L2 normalisation, cosine with the frozen text embeddings of the vocabulary and a learned background
# embedding (N(0, 0.01), normalised) x 100; class-agnostic box regression (TF's box coder, sizes x2 - x1 + 1,
# weights 10/10/5/5, Huber delta 1 over the positive RoIs) and mask head (4 conv and a deconvolution, each
# batch-normalised; 28 x 28). The text side is CLIP ViT-B/32 with ViLD's 63 prompt templates ("This is" prefixed)
# and its class-name rewriting. RoI features through clipdense's RoIAlign ('mmcv.RoIAlign' selects mmcv's) set as
# the reference's crop-and-resize.
# Departures: configs/vild/README.md.
norm_cfg = dict(type='SyncBN', eps=1e-4, momentum=0.003, requires_grad=True)
model = dict(
    type='ViLD',
    clip=dict(name='ViT-B-32', pretrained='openai'),
    templates='vild63',
    name_style='vild',
    data_preprocessor=dict(
        type='mmdet.DetDataPreprocessor',
        mean=[123.675, 116.28, 103.53],
        std=[58.395, 57.12, 57.375],
        bgr_to_rgb=True,
        pad_size_divisor=32,
        pad_mask=True),
    backbone=dict(
        type='ViLDResNet',
        depth=50,
        num_stages=4,
        out_indices=(0, 1, 2, 3),
        frozen_stages=-1,
        norm_cfg=norm_cfg,
        norm_eval=False,
        style='pytorch'),
    neck=dict(type='ViLDFPN', in_channels=[256, 512, 1024, 2048], out_channels=256, num_outs=5, norm_cfg=norm_cfg),
    rpn_head=dict(
        type='ViLDRPNHead',
        in_channels=256,
        feat_channels=256,
        num_convs=2,
        num_levels=5,
        norm_cfg=norm_cfg,
        # The reference's anchors (anchor.py): centred at (i + 0.5) x stride, width/height 1, 2, 0.5 in that order
        # (mmdet's ratios are height/width), so its RPN's output channels keep their meaning.
        anchor_generator=dict(type='AnchorGenerator', scales=[8], ratios=[1.0, 0.5, 2.0], strides=[4, 8, 16, 32, 64],
                              center_offset=0.5),
        # Anchor targets as object_detection's FasterRcnnBoxCoder (sizes x2 - x1), proposals decoded as box_utils'.
        bbox_coder=dict(type='TFDeltaXYWHBBoxCoder', encode_plus_one=False, target_stds=[1.0] * 4),
        loss_cls=dict(type='mmdet.CrossEntropyLoss', use_sigmoid=True, loss_weight=1.0),
        # Huber with delta 1/9 = 1/9 x smooth L1 with beta 1/9.
        loss_bbox=dict(type='mmdet.SmoothL1Loss', beta=1 / 9, loss_weight=1 / 9)),
    roi_head=dict(
        type='ViLDRoIHead',
        distillation_weight=0.5,
        bbox_roi_extractor=dict(
            type='RoIExtractor',
            # The reference's crop-and-resize: one bilinear sample per bin at its centre, no half-pixel offset,
            # boxes thinner than a feature pixel sampled where they lie (min_size 0).
            roi_layer=dict(type='clipdense.RoIAlign', output_size=7, sampling_ratio=1, aligned=False, min_size=0.0),
            out_channels=256,
            featmap_strides=[4, 8, 16, 32, 64]),
        bbox_head=dict(
            type='ViLDBBoxHead',
            num_shared_convs=4,
            num_shared_fcs=2,
            in_channels=256,
            conv_out_channels=256,
            fc_out_channels=1024,
            roi_feat_size=7,
            norm_cfg=norm_cfg,
            fc_norm_cfg=norm_cfg,
            reg_class_agnostic=True,
            cls_predictor_cfg=dict(type='RegionTextClassifier', embed_dim=512, temperature=100.0,
                                   background='learned'),
            bbox_coder=dict(type='TFDeltaXYWHBBoxCoder', target_stds=[0.1, 0.1, 0.2, 0.2]),
            loss_cls=dict(type='mmdet.CrossEntropyLoss', use_sigmoid=False, loss_weight=1.0),
            loss_bbox=dict(type='mmdet.SmoothL1Loss', beta=1.0, loss_weight=1.0)),
        mask_roi_extractor=dict(
            type='RoIExtractor',
            roi_layer=dict(type='clipdense.RoIAlign', output_size=14, sampling_ratio=1, aligned=False, min_size=0.0),
            out_channels=256,
            featmap_strides=[4, 8, 16, 32, 64]),
        mask_head=dict(
            type='ViLDMaskHead',
            num_convs=4,
            in_channels=256,
            conv_out_channels=256,
            class_agnostic=True,
            norm_cfg=norm_cfg,
            loss_mask=dict(type='mmdet.CrossEntropyLoss', use_mask=True, loss_weight=1.0))),
    train_cfg=dict(
        rpn=dict(
            assigner=dict(type='MaxIoUAssigner', pos_iou_thr=0.7, neg_iou_thr=0.3, min_pos_iou=0.3,
                          match_low_quality=True, ignore_iof_thr=-1),
            sampler=dict(type='RandomSampler', num=256, pos_fraction=0.5, neg_pos_ub=-1, add_gt_as_proposals=False),
            allowed_border=-1,
            pos_weight=-1,
            debug=False),
        # No proposal is dropped for its size (the reference's rpn_min_size_threshold 0; mmdet's 0 drops empty boxes).
        rpn_proposal=dict(nms_pre=2000, max_per_img=1000, nms=dict(type='nms', iou_threshold=0.7), min_bbox_size=-1),
        rcnn=dict(
            # 512 RoIs per image, a quarter foreground at IoU >= 0.5, ground-truth boxes mixed in.
            assigner=dict(type='MaxIoUAssigner', pos_iou_thr=0.5, neg_iou_thr=0.5, min_pos_iou=0.5,
                          match_low_quality=False, ignore_iof_thr=-1),
            sampler=dict(type='RandomSampler', num=512, pos_fraction=0.25, neg_pos_ub=-1, add_gt_as_proposals=True),
            mask_size=28,
            pos_weight=-1,
            debug=False)),
    test_cfg=dict(
        rpn=dict(nms_pre=1000, max_per_img=1000, nms=dict(type='nms', iou_threshold=0.7), min_bbox_size=-1),
        # Per-class NMS at 0.5, at most 300 detections, no score threshold (the reference's postprocess).
        rcnn=dict(score_thr=0.0, nms=dict(type='nms', iou_threshold=0.5), max_per_img=300, mask_thr_binary=0.5)))
# ViLD-ensemble: add a second head for the image branch (configs/vild/*ensemble*.py).
image_bbox_head = dict(
    type='ViLDBBoxHead',
    num_shared_convs=4,
    num_shared_fcs=2,
    in_channels=256,
    conv_out_channels=256,
    fc_out_channels=1024,
    roi_feat_size=7,
    norm_cfg=norm_cfg,
    fc_norm_cfg=norm_cfg,
    with_reg=False,
    cls_predictor_cfg=dict(type='RegionTextClassifier', embed_dim=512, temperature=100.0, background='none'))
