# RegionCLIP RN50x4-C4 fine-tuned on OV-LVIS: regionclip_r50-c4_ov-lvis.py with CLIP RN50x4, as
# test_transfer_learning.sh's "RN50x4, LVIS" (RESNETS.DEPTH 200 = RN50x4, TEXT_EMB_DIM 640, ROI_BOX_HEAD
# POOLER_RESOLUTION 18 so that layer4 gives attnpool its 9x9 grid; RES2_OUT_CHANNELS 320: res4 has 1280 channels,
# res5 2560, which the mask head reads; ROI_MASK_HEAD.POOLER_RESOLUTION 18: its masks are 18x18).
# Reference (docs/MODEL_ZOO.md, "ResNet50x4-C4", LVIS): AP novel (APr) 22.0, all 32.3 (box vs mask not stated).
# Weights: regionclip_pretrained-cc_rn50x4.pth (to fine-tune) or regionclip_finetuned-lvis_rn50x4.pth (to evaluate),
# converted by tools/model_converters/regionclip2clipdense.py; the same offline RPN as the RN50 config.
_base_ = ['./regionclip_r50-c4_ov-lvis.py']
model = dict(
    clip=dict(name='RN50x4'),
    roi_head=dict(
        bbox_roi_extractor=dict(roi_layer=dict(output_size=18), out_channels=1280),
        bbox_head=dict(in_channels=640),
        mask_head=dict(in_channels=2560)),
    train_cfg=dict(rcnn=dict(mask_size=18)))
# Fine-tuning starts from the released pretrained RegionCLIP (MODEL.WEIGHTS), converted once:
#   python tools/model_converters/regionclip2clipdense.py regionclip_pretrained-cc_rn50x4.pth \
#       checkpoints/regionclip_pretrained-cc_rn50x4_clipdense.pth
load_from = 'checkpoints/regionclip_pretrained-cc_rn50x4_clipdense.pth'
