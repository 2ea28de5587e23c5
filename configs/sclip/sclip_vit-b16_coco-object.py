# SCLIP, CLIP ViT-B/16, training-free, on COCO-Object (background + 80 things).
# Mirrors wangf3014/SCLIP@b56bd30 configs/cfg_coco_object.py (class file configs/cls_coco_object.txt).
# Reference mIoU: 33.52 (its README).
# Line 0 of the class file is 26 stuff words (synonyms max-pooled into class 0). Pixels whose best class
# probability is below prob_thd become background.
_base_ = [
    '../_base_/models/sclip_vit-b16.py', '../_base_/datasets/coco_object.py',
    '../_base_/default_runtime.py', '../_base_/schedules/inference_only.py'
]
model = dict(
    vocabulary='{{fileDirname}}/../../clipdense/datasets/vocabularies/sclip/coco_object.txt',
    mode='slide',
    crop_size=224,
    stride=112,
    logit_scale=50.0,
    prob_thd=0.1,
    background_class=0)
# Annotations are loaded after the resize: predictions are scored at the original size.
test_pipeline = [
    dict(type='LoadImageFromFile'),
    dict(type='Resize', scale=(2048, 336), keep_ratio=True),
    dict(type='LoadAnnotations'),
    dict(type='PackSegInputs'),
]
val_dataloader = dict(dataset=dict(pipeline=test_pipeline))
test_dataloader = val_dataloader
# Nothing to train: mmengine's Runner wants train_dataloader, train_cfg and optim_wrapper all set or
# all None, and the dataset base defines a train_dataloader for trained methods.
train_dataloader = None
