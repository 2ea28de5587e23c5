# RegionCLIP RN50 zero-shot inference on the offline RPN's proposals, LVIS v1 val, all 1203 classes
# (LVISv1-InstanceSegmentation/CLIP_fast_rcnn_R_50_C4_zsinf.yaml with CROP_REGION_TYPE RPN,
# test_zeroshot_inference.sh): the LVIS R50-FPN RPN (rpn_lvis_866.pth, not the LSJ one) with its NMS at 0.9, the
# proposals' boxes as they are, class probabilities fused with the raw RPN logits (MULTIPLY_RPN_SCORE), score > 0.02
# (the yaml's; the script does not lower it here), per-class hard NMS 0.5, 300 detections, test 800/1333; box AP only.
# Weights as regionclip_r50-c4_zero-shot-rpn_ov-coco.py (the same RPN file):
#   python tools/test.py configs/regionclip/regionclip_r50-c4_zero-shot-rpn_ov-lvis.py converted.pth
# The reference publishes no zero-shot figure in its repository (README and MODEL_ZOO point to the paper's Table 4).
_base_ = [
    '../_base_/models/regionclip_r50_c4_fpn-rpn.py', '../_base_/datasets/ov_lvis_detection.py',
    '../_base_/default_runtime_detection.py'
]
model = dict(
    vocabulary='{{fileDirname}}/../../clipdense/datasets/vocabularies/ovd/lvis_v1.txt',
    offline_rpn=dict(test_cfg=dict(nms=dict(iou_threshold=0.9)), checkpoint='checkpoints/rpn_lvis_866_clipdense.pth'),
    roi_head=dict(rpn_score_fusion='reference', bbox_head=dict(with_reg=False)),
    train_cfg=None,
    test_cfg=dict(rcnn=dict(score_thr=0.02, max_per_img=300)))
train_dataloader = None
train_cfg = None
optim_wrapper = None
param_scheduler = None
val_cfg = dict(type='ValLoop')
test_cfg = dict(type='TestLoop')
