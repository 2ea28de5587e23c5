# regionclip_r50-c4_ov-coco.py with CLIP RN50x4, as the reference's RN50x4 commands of the same setting
# (RESNETS.DEPTH 200 = RN50x4, TEXT_EMB_DIM 640, ROI_BOX_HEAD.POOLER_RESOLUTION 18 so that layer4 gives the attention
# pool its 9x9 grid; res4 has 1280 channels). Weights: the RN50x4 release of the same file (regionclip_*_rn50x4.pth),
# converted by tools/model_converters/regionclip2clipdense.py.
_base_ = ['./regionclip_r50-c4_ov-coco.py']
model = dict(
    clip=dict(name='RN50x4'),
    roi_head=dict(
        bbox_roi_extractor=dict(roi_layer=dict(output_size=18), out_channels=1280),
        bbox_head=dict(in_channels=640)))
# Fine-tuning starts from the released pretrained RegionCLIP (MODEL.WEIGHTS), converted once:
#   python tools/model_converters/regionclip2clipdense.py regionclip_pretrained-cc_rn50x4.pth \
#       checkpoints/regionclip_pretrained-cc_rn50x4_clipdense.pth
load_from = 'checkpoints/regionclip_pretrained-cc_rn50x4_clipdense.pth'
