# ViLD-text on OV-COCO: trained on the 48 base categories, tested on all 65 (AP50 on the 17 novel). ViLD's release
# has no COCO recipe: this is its LVIS recipe (1024 LSJ, 180k iterations of 256) on COCO's base json.
# Text classifier: CLIP ViT-B/32 (OpenAI weights) with ViLD's 63 templates; logits of untrained classes are 0 in the
# training softmax (the reference's mask_rare). Reference schedule at batch 256 (configs/_base_/schedules/vild_180k.py,
# 32 GPUs x 8 images); on one node, scale the learning rate with --auto-scale-lr.
_base_ = [
    '../_base_/models/vild_r50_fpn.py', '../_base_/datasets/ov_coco_detection_lsj-1024.py',
    '../_base_/default_runtime_detection.py', '../_base_/schedules/vild_180k.py'
]
model = dict(
    vocabulary='{{fileDirname}}/../../clipdense/datasets/vocabularies/ovd/ov_coco.txt',
    train_vocabulary='{{fileDirname}}/../../clipdense/datasets/vocabularies/ovd/ov_coco_base.txt',
    data_preprocessor=dict(batch_augments=[dict(type='mmdet.BatchFixedSizePad', size=(1024, 1024))]),
    roi_head=dict(distillation_weight=0.0))
train_dataloader = dict(batch_size=8)
auto_scale_lr = dict(base_batch_size=256)
