# MaskCLIP, CLIP ViT-B/16, training-free, its own protocol, on COCO-Stuff-164k (171 classes).
# Mirrors chongzhou96/MaskCLIP@245d31f configs/maskclip/maskclip_vit16_512x512_coco-stuff164k.py.
# Reference mIoU: 12.5 (its configs/maskclip/README.md).
# Whole image, MaskCLIP class names, 85 templates, ImageNet mean/std. Short side 512 (long side at most
# 2048).
_base_ = [
    '../_base_/models/maskclip_vit-b16.py', '../_base_/datasets/coco_stuff164k.py',
    '../_base_/default_runtime.py', '../_base_/schedules/inference_only.py'
]
model = dict(
    vocabulary='{{fileDirname}}/../../clipdense/datasets/vocabularies/maskclip/coco_stuff.txt')
# Annotations are loaded after the resize: predictions are scored at the original size.
test_pipeline = [
    dict(type='LoadImageFromFile'),
    dict(type='Resize', scale=(2048, 512), keep_ratio=True),
    dict(type='LoadAnnotations'),
    dict(type='PackSegInputs'),
]
val_dataloader = dict(dataset=dict(pipeline=test_pipeline))
test_dataloader = val_dataloader
# Nothing to train: mmengine's Runner wants train_dataloader, train_cfg and optim_wrapper all set or
# all None, and the dataset base defines a train_dataloader for trained methods.
train_dataloader = None
