# MaskCLIP, CLIP ViT-B/16, training-free, under the TCL protocol later papers quote, on PASCAL VOC 2012
# without background (VOC-20).
# Short side 448, sliding 448x448 windows with stride 224; MaskCLIP's model otherwise (85 templates,
# ImageNet mean/std, bottom/right padding). No reference config: the figure is a paper table
# (SCLIP/ClearCLIP/NACLIP quote it). Reference mIoU: paper only: 74.9.
# Class names: MaskCLIP's own list.
_base_ = [
    '../_base_/models/maskclip_vit-b16.py', '../_base_/datasets/voc20.py',
    '../_base_/default_runtime.py', '../_base_/schedules/inference_only.py'
]
model = dict(
    vocabulary='{{fileDirname}}/../../clipdense/datasets/vocabularies/maskclip/voc20.txt',
    mode='slide',
    crop_size=448,
    stride=224)
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
