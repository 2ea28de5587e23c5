# RegionCLIP RN50-C4 fine-tuned on OV-LVIS (LVISv1-InstanceSegmentation/CLIP_fast_rcnn_R_50_C4.yaml +
# train_transfer_learning.sh / test_transfer_learning.sh, "RN50, LVIS"): trained on the 866 base categories, tested on
# all 1203 (LVISMetric: AP, APr = novel). 180k iterations of batch 16, SGD 0.002 (momentum 0.9, weight decay 1e-4),
# x0.1 at 120k and 160k, linear warm-up over 5k; repeat-factor sampling (threshold 0.001); shorter side 640-800,
# longer <= 1333; test 800/1333. Classification: plain class-weighted cross-entropy, background weight 0.8 (no
# FOCAL_SCALED_LOSS on LVIS); at test the RPN's raw objectness logit fuses into the score (MULTIPLY_RPN_SCORE:
# sqrt(p * logit)), score > 0.02 (SCORE_THRESH_TEST), gaussian soft-NMS (sigma 0.5, prune 0.001,
# test_transfer_learning.sh's SOFT_NMS_ENABLED True), 300 detections per image (TEST.DETECTIONS_PER_IMAGE, LVIS's
# limit). Reference figures: MODEL_ZOO lists only RN50x4 on LVIS (regionclip_rn50x4-c4_ov-lvis.py); none for RN50.
# Start from the released pretrained RegionCLIP (load_from, at the end); evaluate the released
# regionclip_finetuned-lvis_rn50.pth converted the same way. Proposals: the reference's frozen LSJ R50-FPN RPN on the
# 866 base classes (rpn_lvis_866_lsj.pth with
# OFFLINE_RPN_LSJ_PRETRAINED True, meta_arch/clip_rcnn.py:115-119: SyncBN in the ResNet and the FPN, RPN.CONV_DIMS
# [-1, -1]), converted once:
#   python tools/model_converters/regionclip_rpn2clipdense.py rpn_lvis_866_lsj.pth \
#       checkpoints/rpn_lvis_866_lsj_clipdense.pth
# (or from the fine-tuned checkpoint, which carries it as offline_*). Masks (MASK_ON True): detectron2's
# MaskRCNNConvUpsampleHead with NUM_CONV 0, class-agnostic, on the RoIs' res5 maps (7x7 -> deconv 256 + ReLU ->
# 14x14 -> 1x1 predictor), trained on polygon targets rasterised at 14x14 (mean binary cross-entropy, weight 1),
# pasted at threshold 0.5; box and mask AP.
_base_ = [
    '../_base_/models/regionclip_r50_c4_fpn-rpn.py', '../_base_/datasets/ov_lvis_detection.py',
    '../_base_/default_runtime_detection.py'
]
model = dict(
    vocabulary='{{fileDirname}}/../../clipdense/datasets/vocabularies/ovd/lvis_v1.txt',
    train_vocabulary='{{fileDirname}}/../../clipdense/datasets/vocabularies/ovd/lvis_v1_base.txt',
    offline_rpn=dict(
        # the LSJ RPN: SyncBN (in eval: batch norm on its running statistics) after each FPN conv, which then has no
        # bias; two 3x3 conv + ReLU in the RPN head, no norm (mmdet's num_convs=2 is that exactly). The ResNet's
        # SyncBN in eval is the batch norm in eval the base already has.
        neck=dict(norm_cfg=dict(type='BN', requires_grad=False)),
        rpn_head=dict(num_convs=2),
        checkpoint='checkpoints/rpn_lvis_866_lsj_clipdense.pth'),
    roi_head=dict(
        rpn_score_fusion='reference',
        bbox_head=dict(loss_cls=dict(gamma=None, background_weight=0.8)),
        mask_head=dict(type='Detectron2MaskHead', num_convs=0, in_channels=2048, conv_out_channels=256,
                       num_classes=1, class_agnostic=True,
                       loss_mask=dict(type='mmdet.CrossEntropyLoss', use_mask=True, loss_weight=1.0))),
    train_cfg=dict(rcnn=dict(mask_size=14)),  # the predicted side: layer4's 7x7, deconvolved
    test_cfg=dict(rcnn=dict(score_thr=0.02, max_per_img=300,
                            nms=dict(type='detectron2_soft_nms', method='gaussian', sigma=0.5, min_score=0.001,
                                     iou_threshold=0.5),
                            mask_thr_binary=0.5)))
# Masks stay polygons (poly2mask=False), cropped and rasterised per RoI as detectron2 does.
train_pipeline = [
    dict(type='LoadImageFromFile', backend_args=None),
    dict(type='mmdet.LoadAnnotations', with_bbox=True, with_mask=True, poly2mask=False),
    dict(type='RandomChoiceResize', scales=[(1333, short) for short in range(640, 801, 32)], keep_ratio=True,
         resize_type='mmdet.Resize'),
    dict(type='mmdet.RandomFlip', prob=0.5),
    dict(type='mmdet.PackDetInputs'),
]
train_dataloader = dict(batch_size=2, dataset=dict(dataset=dict(pipeline=train_pipeline)))
iterations = 180000
optim_wrapper = dict(type='OptimWrapper', optimizer=dict(type='SGD', lr=0.002, momentum=0.9, weight_decay=1e-4))
param_scheduler = [
    dict(type='LinearLR', start_factor=1e-3, by_epoch=False, begin=0, end=5000),
    dict(type='MultiStepLR', by_epoch=False, begin=0, end=iterations, milestones=[120000, 160000], gamma=0.1),
]
train_cfg = dict(type='IterBasedTrainLoop', max_iters=iterations, val_interval=iterations)
val_cfg = dict(type='ValLoop')
test_cfg = dict(type='TestLoop')
# The reference's batch: 16 images (8 GPUs x 2 here).
auto_scale_lr = dict(enable=False, base_batch_size=16)
val_evaluator = dict(metric=['bbox', 'segm'])
test_evaluator = val_evaluator
# Fine-tuning starts from the released pretrained RegionCLIP (MODEL.WEIGHTS), converted once:
#   python tools/model_converters/regionclip2clipdense.py regionclip_pretrained-cc_rn50.pth \
#       checkpoints/regionclip_pretrained-cc_rn50_clipdense.pth
load_from = 'checkpoints/regionclip_pretrained-cc_rn50_clipdense.pth'
