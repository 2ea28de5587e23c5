# ZegCLIP with the embedded clipdense-tiny CLIP on the synthetic world (64 colour-shape classes, 48 seen in
# training, 16 unseen): the method's learning proof on CPUs (tests/test_zegclip.py). Trained on the seen classes'
# text only; evaluated on all 64. Sizes follow the tiny CLIP (patch 8, joint space 128, trained on 64-px crops at
# the scenes' native scale, as the training-free configs run it): 64-px crops of scenes at 0.5-1x their native
# size (so the positional embedding keeps its trained 8x8 grid), windows 64 / stride 53 (ZegCLIP's 512 / 426
# ratio) on the native scenes, a 128-wide decoder with 4 heads. CLIP's mean/std (the tiny CLIP was trained with
# them), its 80 ImageNet templates (what it learnt), and a short schedule with a higher learning rate than
# ZegCLIP's 20k iterations at 2e-4.
_base_ = [
    '../_base_/models/zegclip_vit-b16.py', '../_base_/datasets/synthetic_world.py',
    '../_base_/default_runtime.py', '../_base_/schedules/zegclip_20k.py'
]
crop_size = (64, 64)
model = dict(
    data_preprocessor=dict(mean=[122.771, 116.746, 104.094], std=[68.501, 66.632, 70.323], size=crop_size),
    clip=dict(name='clipdense-tiny', pretrained='embedded'),
    vocabulary='{{fileDirname}}/../../clipdense/assets/vocabularies/synthetic_world.txt',
    train_vocabulary='{{fileDirname}}/../../clipdense/assets/vocabularies/synthetic_world_seen.txt',
    templates='imagenet80',
    backbone=dict(num_prompts=10, input_size=64),
    decode_head=dict(embed_dim=128, num_heads=4, ffn_dim=512),
    test_cfg=dict(mode='slide', crop_size=crop_size, stride=(53, 53), windows_per_batch=64))
train_pipeline = [
    dict(type='LoadImageFromFile'),
    dict(type='LoadAnnotations', reduce_zero_label=True),
    dict(type='RandomResize', scale=(224, 224), ratio_range=(0.5, 1.0), keep_ratio=True),
    dict(type='RandomCrop', crop_size=crop_size, cat_max_ratio=0.75),
    dict(type='RandomFlip', prob=0.5),
    dict(type='PackSegInputs'),
]
train_dataloader = dict(batch_size=16, num_workers=2, dataset=dict(pipeline=train_pipeline))
iterations = 500
optim_wrapper = dict(optimizer=dict(lr=2e-3))
param_scheduler = [
    dict(type='LinearLR', start_factor=1e-3, by_epoch=False, begin=0, end=50),
    dict(type='PolyLR', eta_min=1e-6, power=0.9, by_epoch=False, begin=0, end=iterations),
]
train_cfg = dict(max_iters=iterations, val_interval=iterations)
# A checkpoint at half the schedule: where the transductive config starts, as the reference's does.
default_hooks = dict(logger=dict(interval=50), checkpoint=dict(interval=iterations // 2))
val_evaluator = dict(
    type='OpenVocabIoUMetric',
    unseen_classes='{{fileDirname}}/../../clipdense/assets/vocabularies/synthetic_world_unseen.txt')
test_evaluator = val_evaluator
