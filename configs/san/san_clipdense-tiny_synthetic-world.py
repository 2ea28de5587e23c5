# SAN with the embedded clipdense-tiny CLIP on the synthetic world (64 colour-shape classes, 48 seen in training,
# 16 unseen): the method's learning proof on CPUs (tests/test_san.py). Trained on the seen classes' text only;
# evaluated on all 64. Sizes follow the tiny CLIP (4 blocks of width 128 with 4 heads, patch 8, trained on 64-px
# crops at the scenes' native scale): CLIP sees the image at its native scale (input_scale 1, not SAN's 0.5), its
# first 3 blocks feed the side adapter (fusions after ln_pre and blocks 1-3) and the last one recognises; the side
# adapter keeps SAN's 8 blocks but is 120 wide with 20 queries (SAN: 240, 100; scenes hold a few objects, and the
# width sets the CPU time) and uses patch 8 so that its grid is CLIP's; 64-px crops of scenes resized to a long side
# of 112-224 px, padded to 64 with pixel 128 as SAN pads; whole-scene inference. CLIP's 80 ImageNet templates (what
# the tiny CLIP learnt) and a short schedule at a higher learning rate than SAN's 60k iterations at 1e-4 (500
# iterations: seen classes 13.7 mIoU, against 9.4 after 300 and 10.3 after 1000).
_base_ = [
    '../_base_/models/san_vit-b16.py', '../_base_/datasets/synthetic_world.py', '../_base_/default_runtime.py',
    '../_base_/schedules/san_60k.py'
]
crop_size = (64, 64)
model = dict(
    data_preprocessor=dict(size_divisor=64),
    clip=dict(name='clipdense-tiny', pretrained='embedded'),
    vocabulary='{{fileDirname}}/../../clipdense/assets/vocabularies/synthetic_world.txt',
    train_vocabulary='{{fileDirname}}/../../clipdense/assets/vocabularies/synthetic_world_seen.txt',
    templates='imagenet80',
    backbone=dict(split=3, feature_layers=(0, 1, 2, 3), input_scale=1.0),
    decode_head=dict(
        embed_dim=128,
        deep_supervision_idxs=[7],
        san_cfg=dict(clip_channels=128, embed_dims=120, patch_size=8, num_queries=20, cfg_decoder=dict(num_heads=4)),
        train_cfg=dict(num_points=1024)))
train_pipeline = [
    dict(type='LoadImageFromFile'),
    dict(type='LoadAnnotations', reduce_zero_label=True),
    dict(type='RandomResize', scale=(224, 224), ratio_range=(0.5, 1.0), keep_ratio=True),
    dict(type='RandomCrop', crop_size=crop_size, cat_max_ratio=1.0),
    dict(type='RandomFlip', prob=0.5),
    dict(type='Pad', size=crop_size, pad_val=dict(img=128, seg=255)),
    dict(type='PackSegInputs'),
]
train_dataloader = dict(batch_size=16, num_workers=2, dataset=dict(pipeline=train_pipeline))
iterations = 500
optim_wrapper = dict(optimizer=dict(lr=1e-3))
param_scheduler = [dict(type='PolyLR', eta_min=0.0, power=0.9, begin=0, end=iterations, by_epoch=False)]
train_cfg = dict(max_iters=iterations, val_interval=iterations)
default_hooks = dict(logger=dict(interval=50), checkpoint=dict(interval=iterations))
val_evaluator = dict(
    type='OpenVocabIoUMetric',
    unseen_classes='{{fileDirname}}/../../clipdense/assets/vocabularies/synthetic_world_unseen.txt')
test_evaluator = val_evaluator
