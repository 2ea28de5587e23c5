# ViLD-text with the embedded clipdense-tiny CLIP on the synthetic world's detection set (64 colour-shape classes,
# 48 base with boxes in training, 16 novel): the detector's learning proof on CPUs (tests/test_vild.py). ViLD's
# structure at the scale of 128-224 px scenes: a ResNet-18 with 16 base channels (16/32/64/128), FPN of 64
# channels, anchors of 4 x stride (16-256 px), box head of 4 conv (64) + 2 FC (256) with norm and a projection to
# the CLIP's 128-d space, mask head of 2 conv (32); BN (single process) with torch's momentum 0.1, as the running
# statistics of a 400-step schedule would keep much of their initial values at the reference's 0.003. The text side
# uses CLIP's 80 ImageNet templates (what the tiny CLIP learnt) with names as given; ViLD's 63 templates are for
# real CLIPs.
_base_ = [
    '../_base_/models/vild_r50_fpn.py', '../_base_/datasets/synthetic_world_detection.py',
    '../_base_/default_runtime_detection.py', '../_base_/schedules/vild_180k.py'
]
norm_cfg = dict(type='BN', momentum=0.1, requires_grad=True)
width = 32
model = dict(
    clip=dict(name='clipdense-tiny', pretrained='embedded'),
    vocabulary='{{fileDirname}}/../../clipdense/assets/vocabularies/synthetic_world.txt',
    train_vocabulary='{{fileDirname}}/../../clipdense/assets/vocabularies/synthetic_world_seen.txt',
    templates='imagenet80',
    name_style='as_is',
    backbone=dict(depth=18, base_channels=16, norm_cfg=norm_cfg),
    neck=dict(in_channels=[16, 32, 64, 128], out_channels=width, norm_cfg=norm_cfg),
    rpn_head=dict(in_channels=width, feat_channels=width, norm_cfg=norm_cfg, anchor_generator=dict(scales=[4])),
    roi_head=dict(
        bbox_roi_extractor=dict(out_channels=width),
        bbox_head=dict(in_channels=width, conv_out_channels=width, fc_out_channels=256, norm_cfg=norm_cfg,
                       fc_norm_cfg=dict(type='BN1d'), cls_predictor_cfg=dict(embed_dim=128)),
        mask_roi_extractor=dict(out_channels=width),
        mask_head=dict(num_convs=2, in_channels=width, conv_out_channels=16, norm_cfg=norm_cfg)),
    train_cfg=dict(rpn_proposal=dict(nms_pre=1000, max_per_img=300),
                   rcnn=dict(sampler=dict(num=64))),
    test_cfg=dict(rpn=dict(nms_pre=500, max_per_img=100), rcnn=dict(max_per_img=50)))
train_pipeline = [
    dict(type='LoadImageFromFile'),
    dict(type='mmdet.LoadAnnotations', with_bbox=True, with_mask=True),
    dict(type='RandomResize', scale=(224, 224), ratio_range=(0.75, 1.25), keep_ratio=True, resize_type='mmdet.Resize'),
    dict(type='mmdet.RandomFlip', prob=0.5),
    dict(type='mmdet.PackDetInputs'),
]
train_dataloader = dict(batch_size=8, sampler=dict(type='InfiniteSampler', shuffle=True),
                        dataset=dict(pipeline=train_pipeline))
iterations = 400
# SGD with ViLD's momentum and weight decay at a rate for batch 8 and a few hundred steps.
optim_wrapper = dict(optimizer=dict(lr=0.04), clip_grad=dict(max_norm=10.0))
param_scheduler = [
    dict(type='LinearLR', start_factor=0.01, by_epoch=False, begin=0, end=50),
    dict(type='MultiStepLR', by_epoch=False, begin=0, end=iterations, milestones=[300, 370], gamma=0.1),
]
train_cfg = dict(max_iters=iterations, val_interval=iterations)
default_hooks = dict(logger=dict(interval=50), checkpoint=dict(interval=iterations))
