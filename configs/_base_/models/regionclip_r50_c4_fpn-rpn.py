# RegionCLIP C4 (regionclip_r50_c4.py) with the reference's LVIS offline RPN instead of the C4 one: detectron2's
# R50-FPN Mask R-CNN trained on the 866 LVIS base classes (OFFLINE_RPN_CONFIG
# LVISv1-InstanceSegmentation/mask_rcnn_R_50_FPN_1x.yaml on Base-RCNN-FPN.yaml; MODEL_ZOO's rpn_lvis_866.pth, used by
# zero-shot inference and pretraining), frozen and in eval mode as the C4 one. Its R50 (caffe style = STRIDE_IN_1X1,
# FrozenBN = batch norms in eval) gives res2..res5 to an FPN of 256 channels (FUSE_TYPE sum, nearest 2x top-down;
# NORM "" = convs with bias), P6 = max-pool (kernel 1, stride 2) of P5 (LastLevelMaxPool = mmdet's FPN without extra
# convs); one shared RPN head (one 3x3 conv + ReLU, 3 anchors per location) on p2..p6; anchors 32/64/128/256/512 (one
# size per level: scale 8 x strides 4..64) x ratios 0.5/1/2, offset 0; BGR minus detectron2's mean, std 1, padded to
# a multiple of 32 (the FPN's size_divisibility). Test settings (the RPN is always in eval mode): per level the 1000
# highest logits (PRE_NMS_TOPK_TEST), NMS 0.7 per level (RPN.NMS_THRESH; OFFLINE_RPN_NMS_THRESH overrides it), 1000
# over all levels (POST_NMS_TOPK_TEST), MIN_SIZE 0. The LSJ RPN (rpn_lvis_866_lsj.pth, OFFLINE_RPN_LSJ_PRETRAINED)
# adds norm to the FPN and a second RPN conv: see configs/regionclip/regionclip_r50-c4_ov-lvis.py.
# Weights: offline_rpn.checkpoint, the released RPN converted by tools/model_converters/regionclip_rpn2clipdense.py.
_base_ = './regionclip_r50_c4.py'
model = dict(
    offline_rpn=dict(
        _delete_=True,
        type='OfflineRPN',
        backbone=dict(type='mmdet.ResNet', depth=50, num_stages=4, out_indices=(0, 1, 2, 3),
                      norm_cfg=dict(type='BN', requires_grad=False), norm_eval=True, style='caffe', init_cfg=None),
        neck=dict(type='mmdet.FPN', in_channels=[256, 512, 1024, 2048], out_channels=256, num_outs=5),
        rpn_head=dict(
            type='mmdet.RPNHead',
            in_channels=256,
            feat_channels=256,
            num_convs=1,
            # detectron2's DefaultAnchorGenerator with one size per level (SIZES [[32], ..., [512]])
            anchor_generator=dict(type='AnchorGenerator', scales=[8], ratios=[0.5, 1.0, 2.0],
                                  strides=[4, 8, 16, 32, 64], scale_major=False, center_offset=0.0),
            # detectron2's Box2BoxTransform(1, 1, 1, 1): dw, dh clamped above only (as the C4 RPN's)
            bbox_coder=dict(type='DeltaXYWHBBoxCoder', target_means=[0.0] * 4, target_stds=[1.0] * 4,
                            add_ctr_clamp=True, ctr_clamp=1e8)),
        mean=[103.53, 116.28, 123.675],
        std=[1.0, 1.0, 1.0],
        channel_order='BGR',
        size_divisor=32,
        test_cfg=dict(nms_pre=1000, max_per_img=1000, nms=dict(type='nms', iou_threshold=0.7), min_bbox_size=0),
        checkpoint=None))
