# RegionCLIP's region-concept pretraining, its pseudo-labelling step (tools/regionclip_concept_labels.py), with the
# reference's settings (configs/pretrain/RegionCLIP_RN50.yaml + pretrain.sh): the LVIS base-class R50-FPN offline
# RPN (rpn_lvis_866.pth, converted by tools/model_converters/regionclip_rpn2clipdense.py) with NMS 0.5 and 300
# regions per image (OFFLINE_RPN_NMS_THRESH, PRETRAIN_RPN_REGIONS); OpenAI's RN50 as the teacher (TEACHER_RESNETS_DEPTH
# 50, TEACHER_POOLER_RESOLUTION 14); the concept pool coco_nouns_4764.txt from the reference's released concept
# files; softmax(cos / 0.01), kept > 0.1 (CONCEPT_THRES). Images at the pretraining's test size (shorter side 800,
# longer at most 1333; training draws 640-800). The reference labels CC3M's images (not released with it):
#   python tools/regionclip_concept_labels.py configs/regionclip/regionclip_r50-c4_concept-labels_cc3m.py \
#       --images data/cc3m/images --out work_dirs/concept_labels_cc3m.json
# Only the labels are made here: the student's pretraining (its distillation and contrastive losses on 600k
# iterations of 96 image-caption pairs) is not built (configs/regionclip/README.md).
_base_ = ['../_base_/models/regionclip_r50_c4_fpn-rpn.py']
model = dict(offline_rpn=dict(test_cfg=dict(nms=dict(iou_threshold=0.5), max_per_img=300),
                              checkpoint='data/regionclip/rpn_lvis_866.pth'))
concept_labeler = dict(
    type='RegionConceptLabeler',
    clip=dict(name='RN50', pretrained='openai'),
    concepts='data/regionclip/concept_pool/coco_nouns_4764.txt',
    roi_extractor={{_base_.model.roi_head.bbox_roi_extractor}},
    temperature=0.01,
    threshold=0.1,
    templates={{_base_.model.templates}},
    name_style={{_base_.model.name_style}},
    normalize_prompts=False)
test_pipeline = [
    dict(type='LoadImageFromFile'),
    dict(type='mmdet.Resize', scale=(1333, 800), keep_ratio=True),
    dict(type='mmdet.PackDetInputs', meta_keys=('img_id', 'img_path', 'ori_shape', 'img_shape', 'scale_factor')),
]
