# ViLD-text on OV-LVIS: trained on the 866 frequent and common categories (rare annotations dropped by
# tools/dataset_converters/ov_lvis.py), tested on all 1203 (APr on the 337 rare).
# Reference: ViLD-text R50 10.1 APr / 24.9 AP (the paper's row as other repositories quote it).
# Text classifier: CLIP ViT-B/32 (OpenAI weights) with ViLD's 63 templates; logits of untrained classes are 0 in the
# training softmax (the reference's mask_rare). Reference schedule at batch 256 (configs/_base_/schedules/vild_180k.py,
# 32 GPUs x 8 images); on one node, scale the learning rate with --auto-scale-lr.
_base_ = [
    '../_base_/models/vild_r50_fpn.py', '../_base_/datasets/ov_lvis_detection_lsj-1024.py',
    '../_base_/default_runtime_detection.py', '../_base_/schedules/vild_180k.py'
]
model = dict(
    vocabulary='{{fileDirname}}/../../clipdense/datasets/vocabularies/ovd/lvis_v1.txt',
    train_vocabulary='{{fileDirname}}/../../clipdense/datasets/vocabularies/ovd/lvis_v1_base.txt',
    data_preprocessor=dict(batch_augments=[dict(type='mmdet.BatchFixedSizePad', size=(1024, 1024))]),
    roi_head=dict(distillation_weight=0.0))
train_dataloader = dict(batch_size=8)
auto_scale_lr = dict(base_batch_size=256)
# Box and mask AP, as the reference's `lvis_box_and_mask` evaluation (its 16.1 mask APr in the README's abstract).
val_evaluator = dict(metric=['bbox', 'segm'])
test_evaluator = val_evaluator
