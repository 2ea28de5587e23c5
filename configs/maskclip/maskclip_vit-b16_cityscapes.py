# MaskCLIP, CLIP ViT-B/16, training-free, its own protocol, on Cityscapes (19 classes).
# Mirrors chongzhou96/MaskCLIP@245d31f configs/maskclip/maskclip_vit16_1024x512_cityscapes.py.
# Reference mIoU: none reported (the config exists, its README has no figure).
# Whole image, MaskCLIP class names, 85 templates, ImageNet mean/std. Resized to fit 1024x512 (2048x1024
# frames become 1024x512).
_base_ = [
    '../_base_/models/maskclip_vit-b16.py', '../_base_/datasets/cityscapes.py',
    '../_base_/default_runtime.py', '../_base_/schedules/inference_only.py'
]
model = dict(
    vocabulary='{{fileDirname}}/../../clipdense/datasets/vocabularies/maskclip/cityscapes.txt')
# Annotations are loaded after the resize: predictions are scored at the original size.
test_pipeline = [
    dict(type='LoadImageFromFile'),
    dict(type='Resize', scale=(1024, 512), keep_ratio=True),
    dict(type='LoadAnnotations'),
    dict(type='PackSegInputs'),
]
val_dataloader = dict(dataset=dict(pipeline=test_pipeline))
test_dataloader = val_dataloader
# Nothing to train: mmengine's Runner wants train_dataloader, train_cfg and optim_wrapper all set or
# all None, and the dataset base defines a train_dataloader for trained methods.
train_dataloader = None
