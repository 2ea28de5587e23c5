# RegionCLIP RN50 zero-shot inference on the offline RPN's proposals, COCO's 65 OV classes
# (CLIP_fast_rcnn_R_50_C4_ovd_zsinf.yaml with CROP_REGION_TYPE RPN, test_zeroshot_inference.sh): the proposals of the
# reference's LVIS R50-FPN RPN (OFFLINE_RPN_CONFIG mask_rcnn_R_50_FPN_1x.yaml + rpn_lvis_866.pth, for COCO too) with
# its NMS at 0.9 (OFFLINE_RPN_NMS_THRESH), their boxes as they are (NO_BOX_DELTA), class probabilities fused with the
# raw RPN logits (MULTIPLY_RPN_SCORE: sqrt(p * logit), non-finite dropped), score > 0.001, per-class hard NMS 0.5,
# 100 detections, test 800/1333. Weights: the released pretrained RegionCLIP (regionclip_pretrained-cc_rn50.pth)
# converted by tools/model_converters/regionclip2clipdense.py, and the RPN converted once:
#   python tools/model_converters/regionclip_rpn2clipdense.py rpn_lvis_866.pth checkpoints/rpn_lvis_866_clipdense.pth
#   python tools/test.py configs/regionclip/regionclip_r50-c4_zero-shot-rpn_ov-coco.py converted.pth
# The reference publishes no zero-shot figure in its repository (README and MODEL_ZOO point to the paper's Table 4).
_base_ = [
    '../_base_/models/regionclip_r50_c4_fpn-rpn.py', '../_base_/datasets/ov_coco_detection.py',
    '../_base_/default_runtime_detection.py'
]
model = dict(
    vocabulary='{{fileDirname}}/../../clipdense/datasets/vocabularies/ovd/ov_coco.txt',
    offline_rpn=dict(test_cfg=dict(nms=dict(iou_threshold=0.9)), checkpoint='checkpoints/rpn_lvis_866_clipdense.pth'),
    roi_head=dict(rpn_score_fusion='reference', bbox_head=dict(with_reg=False)),
    train_cfg=None)
train_dataloader = None
train_cfg = None
optim_wrapper = None
param_scheduler = None
val_cfg = dict(type='ValLoop')
test_cfg = dict(type='TestLoop')
