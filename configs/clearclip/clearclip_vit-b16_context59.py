# ClearCLIP, CLIP ViT-B/16, training-free, on PASCAL Context without background (Context-59).
# Mirrors mc-lan/ClearCLIP@ad68a40 configs/cfg_context59.py (class file configs/cls_context59.txt).
# Reference mIoU: 35.9 (its README, results table assets/results.png).
_base_ = [
    '../_base_/models/clearclip_vit-b16.py', '../_base_/datasets/context59.py',
    '../_base_/default_runtime.py', '../_base_/schedules/inference_only.py'
]
model = dict(
    vocabulary='{{fileDirname}}/../../clipdense/datasets/vocabularies/clearclip/context59.txt',
    mode='slide',
    crop_size=448,
    stride=224,
    logit_scale=50.0)
# Annotations are loaded after the resize: predictions are scored at the original size.
test_pipeline = [
    dict(type='LoadImageFromFile'),
    dict(type='Resize', scale=(2048, 448), keep_ratio=True),
    dict(type='LoadAnnotations', reduce_zero_label=True),
    dict(type='PackSegInputs'),
]
val_dataloader = dict(dataset=dict(pipeline=test_pipeline))
test_dataloader = val_dataloader
# Nothing to train: mmengine's Runner wants train_dataloader, train_cfg and optim_wrapper all set or
# all None, and the dataset base defines a train_dataloader for trained methods.
train_dataloader = None
