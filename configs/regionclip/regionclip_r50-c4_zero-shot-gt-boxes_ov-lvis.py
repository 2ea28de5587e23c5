# RegionCLIP RN50 zero-shot inference on LVIS v1 val's ground-truth boxes, all 1203 classes
# (LVISv1-InstanceSegmentation/CLIP_fast_rcnn_R_50_C4_zsinf.yaml with CROP_REGION_TYPE GT, test_zeroshot_inference.sh):
# every ground-truth box is a proposal, classified as it is (no box deltas, no RPN score), score > 0.0001 (the
# script's SCORE_THRESH_TEST), per-class hard NMS 0.5, 300 detections, test 800/1333; box AP only (MASK_ON False).
# Weights: the released pretrained RegionCLIP (regionclip_pretrained-cc_rn50.pth) converted by
# tools/model_converters/regionclip2clipdense.py:
#   python tools/test.py configs/regionclip/regionclip_r50-c4_zero-shot-gt-boxes_ov-lvis.py converted.pth
# The reference publishes no zero-shot figure in its repository (README and MODEL_ZOO point to the paper's Table 4).
_base_ = [
    '../_base_/models/regionclip_r50_c4.py', '../_base_/datasets/ov_lvis_detection.py',
    '../_base_/default_runtime_detection.py'
]
model = dict(
    vocabulary='{{fileDirname}}/../../clipdense/datasets/vocabularies/ovd/lvis_v1.txt',
    test_proposals='gt',
    offline_rpn=None,
    train_cfg=None,
    test_cfg=dict(rcnn=dict(score_thr=0.0001, max_per_img=300)))
# The boxes are loaded before Resize so that they are resized with the image (they are the proposals).
test_pipeline = [
    dict(type='LoadImageFromFile', backend_args=None),
    dict(type='mmdet.LoadAnnotations', with_bbox=True),
    dict(type='mmdet.Resize', scale=(1333, 800), keep_ratio=True),
    dict(type='mmdet.PackDetInputs', meta_keys=('img_id', 'img_path', 'ori_shape', 'img_shape', 'scale_factor')),
]
val_dataloader = dict(dataset=dict(pipeline=test_pipeline))
test_dataloader = val_dataloader
train_dataloader = None
train_cfg = None
optim_wrapper = None
param_scheduler = None
val_cfg = dict(type='ValLoop')
test_cfg = dict(type='TestLoop')
