# NACLIP, CLIP ViT-B/16, training-free, on PASCAL VOC 2012 with background (VOC-21).
# Mirrors sinahmr/NACLIP@0cac3a6 configs/cfg_voc21.py (class file configs/cls_voc21.txt).
# Reference mIoU: 64.07 (its README).
# Line 0 of the class file is 26 stuff words (synonyms max-pooled into class 0). Pixels whose best class
# probability is below prob_thd become background.
# Whole-image inference (the reference sets slide_crop=0).
_base_ = [
    '../_base_/models/naclip_vit-b16.py', '../_base_/datasets/voc21.py',
    '../_base_/default_runtime.py', '../_base_/schedules/inference_only.py'
]
model = dict(
    vocabulary='{{fileDirname}}/../../clipdense/datasets/vocabularies/naclip/voc21.txt',
    mode='whole',
    logit_scale=40.0,
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
