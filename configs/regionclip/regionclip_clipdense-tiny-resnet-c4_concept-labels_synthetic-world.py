# RegionCLIP's pretraining pseudo labels on the synthetic world (tools/regionclip_concept_labels.py): the offline RPN
# of regionclip_clipdense-tiny-resnet-c4_synthetic-world.py (trained first on the base classes, see there) proposes
# regions with the pretraining's settings (NMS 0.5, 300 regions: OFFLINE_RPN_NMS_THRESH, PRETRAIN_RPN_REGIONS), the
# embedded clipdense-tiny-resnet is the teacher (res4 -> RoIAlign 14 -> layer4 -> attention pool), and the concept
# pool is the world's 64 class names (the reference's is a noun list, e.g. coco_nouns_4764.txt). The softmax runs at
# the tiny CLIP's logit scale (1 / 14.78), as the detector config's, where the reference's 0.01 is OpenAI CLIP's:
#   python tools/regionclip_concept_labels.py \
#       configs/regionclip/regionclip_clipdense-tiny-resnet-c4_concept-labels_synthetic-world.py \
#       --images data/synthetic_world/images/train --out work_dirs/concept_labels_synthetic-world.json
_base_ = ['./regionclip_clipdense-tiny-resnet-c4_synthetic-world.py']
model = dict(offline_rpn=dict(test_cfg=dict(nms=dict(iou_threshold=0.5), max_per_img=300)))
concept_labeler = dict(
    type='RegionConceptLabeler',
    clip={{_base_.model.clip}},
    concepts='{{fileDirname}}/../../clipdense/assets/vocabularies/synthetic_world.txt',
    roi_extractor={{_base_.model.roi_head.bbox_roi_extractor}},
    temperature=1 / 14.78,
    threshold=0.1,
    templates={{_base_.model.templates}},
    name_style={{_base_.model.name_style}},
    normalize_prompts=False)
