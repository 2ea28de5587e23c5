# RegionCLIP zero-shot on the synthetic world with the offline RPN's proposals (CROP_REGION_TYPE RPN,
# CLIP_fast_rcnn_R_50_C4_ovd_zsinf.yaml + test_zeroshot_inference.sh): the proposals' boxes as they are
# (NO_BOX_DELTA), the offline RPN's NMS at 0.9 (OFFLINE_RPN_NMS_THRESH), class probabilities fused with the raw RPN
# logits (MULTIPLY_RPN_SCORE). No training of the detector; the offline RPN of
# configs/regionclip/rpn_r18-tiny-c4_synthetic-world.py must be trained first (see
# regionclip_clipdense-tiny-resnet-c4_synthetic-world.py, whose CLIP and RPN this config keeps):
#   python tools/test.py configs/regionclip/regionclip_clipdense-tiny-resnet-c4_zero-shot-rpn_synthetic-world.py
_base_ = ['./regionclip_clipdense-tiny-resnet-c4_synthetic-world.py']
model = dict(
    offline_rpn=dict(test_cfg=dict(nms=dict(iou_threshold=0.9))),
    roi_head=dict(rpn_score_fusion='reference', bbox_head=dict(with_reg=False)),
    train_cfg=None)
train_dataloader = None
train_cfg = None
optim_wrapper = None
param_scheduler = None
