# NACLIP, CLIP ViT-B/16, training-free, on PASCAL Context-459.
# No reference config or figure: NACLIP's default protocol with the dataset's own class names
# (clipdense/datasets/vocabularies/common/context459.txt).
_base_ = [
    '../_base_/models/naclip_vit-b16.py', '../_base_/datasets/context459.py',
    '../_base_/default_runtime.py', '../_base_/schedules/inference_only.py'
]
model = dict(
    vocabulary='{{fileDirname}}/../../clipdense/datasets/vocabularies/common/context459.txt',
    mode='slide',
    crop_size=224,
    stride=112,
    logit_scale=40.0)
# Annotations are loaded after the resize: predictions are scored at the original size.
test_pipeline = [
    dict(type='LoadImageFromFile'),
    dict(type='Resize', scale=(2048, 336), keep_ratio=True),
    dict(type='Load16BitAnnotations'),
    dict(type='PackSegInputs'),
]
val_dataloader = dict(dataset=dict(pipeline=test_pipeline))
test_dataloader = val_dataloader
# Nothing to train: mmengine's Runner wants train_dataloader, train_cfg and optim_wrapper all set or
# all None, and the dataset base defines a train_dataloader for trained methods.
train_dataloader = None
