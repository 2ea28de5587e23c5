# NACLIP, CLIP ViT-B/16, training-free, on PASCAL VOC 2012 without background (VOC-20).
# Mirrors sinahmr/NACLIP@0cac3a6 configs/cfg_voc20.py (class file configs/cls_voc20.txt).
# Reference mIoU: 83.03 (its README).
# Whole-image inference (the reference sets slide_crop=0).
_base_ = [
    '../_base_/models/naclip_vit-b16.py', '../_base_/datasets/voc20.py',
    '../_base_/default_runtime.py', '../_base_/schedules/inference_only.py'
]
model = dict(
    vocabulary='{{fileDirname}}/../../clipdense/datasets/vocabularies/naclip/voc20.txt',
    mode='whole',
    logit_scale=40.0)
# Annotations are loaded after the resize: predictions are scored at the original size.
test_pipeline = [
    dict(type='LoadImageFromFile'),
    dict(type='Resize', scale=(2048, 336), keep_ratio=True),
    dict(type='LoadAnnotations', reduce_zero_label=True),
    dict(type='PackSegInputs'),
]
val_dataloader = dict(dataset=dict(pipeline=test_pipeline))
test_dataloader = val_dataloader
# Nothing to train: mmengine's Runner wants train_dataloader, train_cfg and optim_wrapper all set or
# all None, and the dataset base defines a train_dataloader for trained methods.
train_dataloader = None
