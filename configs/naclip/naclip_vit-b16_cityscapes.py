# NACLIP, CLIP ViT-B/16, training-free, on Cityscapes (19 classes).
# Mirrors sinahmr/NACLIP@0cac3a6 configs/cfg_city_scapes.py (class file configs/cls_city_scapes.txt).
# Reference mIoU: 38.27 (its README).
_base_ = [
    '../_base_/models/naclip_vit-b16.py', '../_base_/datasets/cityscapes.py',
    '../_base_/default_runtime.py', '../_base_/schedules/inference_only.py'
]
model = dict(
    vocabulary='{{fileDirname}}/../../clipdense/datasets/vocabularies/naclip/cityscapes.txt',
    mode='slide',
    crop_size=224,
    stride=112,
    logit_scale=40.0)
# Annotations are loaded after the resize: predictions are scored at the original size.
test_pipeline = [
    dict(type='LoadImageFromFile'),
    dict(type='Resize', scale=(2048, 560), keep_ratio=True),
    dict(type='LoadAnnotations'),
    dict(type='PackSegInputs'),
]
val_dataloader = dict(dataset=dict(pipeline=test_pipeline))
test_dataloader = val_dataloader
# Nothing to train: mmengine's Runner wants train_dataloader, train_cfg and optim_wrapper all set or
# all None, and the dataset base defines a train_dataloader for trained methods.
train_dataloader = None
