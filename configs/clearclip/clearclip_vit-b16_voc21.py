# ClearCLIP, CLIP ViT-B/16, training-free, on PASCAL VOC 2012 with background (VOC-21).
# Mirrors mc-lan/ClearCLIP@ad68a40 configs/cfg_voc21.py (class file configs/cls_voc21.txt).
# Reference mIoU: paper only: 51.8 (the repository reports no figure for this benchmark).
# Line 0 of the class file is the single word `background`. Pixels whose best class probability is below
# prob_thd become background.
_base_ = [
    '../_base_/models/clearclip_vit-b16.py', '../_base_/datasets/voc21.py',
    '../_base_/default_runtime.py', '../_base_/schedules/inference_only.py'
]
model = dict(
    vocabulary='{{fileDirname}}/../../clipdense/datasets/vocabularies/clearclip/voc21.txt',
    mode='slide',
    crop_size=448,
    stride=224,
    logit_scale=50.0,
    prob_thd=0.5,
    background_class=0)
# Annotations are loaded after the resize: predictions are scored at the original size.
test_pipeline = [
    dict(type='LoadImageFromFile'),
    dict(type='Resize', scale=(2048, 448), keep_ratio=True),
    dict(type='LoadAnnotations'),
    dict(type='PackSegInputs'),
]
val_dataloader = dict(dataset=dict(pipeline=test_pipeline))
test_dataloader = val_dataloader
# Nothing to train: mmengine's Runner wants train_dataloader, train_cfg and optim_wrapper all set or
# all None, and the dataset base defines a train_dataloader for trained methods.
train_dataloader = None
