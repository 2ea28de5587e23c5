# MaskCLIP, CLIP RN50, training-free, its own protocol, on PASCAL Context without background (Context-59).
# Mirrors chongzhou96/MaskCLIP@245d31f configs/maskclip/maskclip_r50_520x520_pascal_context_59.py.
# Reference mIoU: 18.5 (its configs/maskclip/README.md).
# Dense features: the attention pool's value path c_proj(v_proj(x)) at every position of the last feature
# map (no positional embedding, no attention); no padding (the CNN floors). Built on the ViT-B/16 model base
# with the CLIP swapped.
# Whole image, MaskCLIP class names, 85 templates, ImageNet mean/std. Fit inside 520x520 (long side 520), as
# its img_scale=(520, 520) with keep_ratio.
_base_ = [
    '../_base_/models/maskclip_vit-b16.py', '../_base_/datasets/context59.py',
    '../_base_/default_runtime.py', '../_base_/schedules/inference_only.py'
]
model = dict(
    clip=dict(name='RN50', pretrained='openai'),
    last_block=None,
    window_padding=None,
    vocabulary='{{fileDirname}}/../../clipdense/datasets/vocabularies/maskclip/context59.txt')
# Annotations are loaded after the resize: predictions are scored at the original size.
test_pipeline = [
    dict(type='LoadImageFromFile'),
    dict(type='Resize', scale=(520, 520), keep_ratio=True),
    dict(type='LoadAnnotations', reduce_zero_label=True),
    dict(type='PackSegInputs'),
]
val_dataloader = dict(dataset=dict(pipeline=test_pipeline))
test_dataloader = val_dataloader
# Nothing to train: mmengine's Runner wants train_dataloader, train_cfg and optim_wrapper all set or
# all None, and the dataset base defines a train_dataloader for trained methods.
train_dataloader = None
