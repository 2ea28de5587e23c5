# The offline RPN of RegionCLIP's synthetic-world configs, trained here on the synthetic world's 48 base classes (the
# reference trains its rpn_coco_48.pth on OV-COCO's base classes the same way: an ordinary RPN, class-agnostic).
# An mmdet RPN detector whose checkpoint (backbone.*, rpn_head.*) RegionCLIP's OfflineRPN loads as it is:
#   python tools/train.py configs/regionclip/rpn_r18-tiny-c4_synthetic-world.py
# writes work_dirs/rpn_r18-tiny-c4_synthetic-world/iter_400.pth, the offline_rpn.checkpoint those configs name.
# Evaluated as proposals: COCO's average recall of the validation boxes (all 64 classes) at 100/300/1000 proposals,
# the numbers mmdet's metric names (its 'proposal_fast' recall fails on numpy 2's ragged arrays).
_base_ = [
    '../_base_/models/rpn_r18-tiny-c4.py', '../_base_/datasets/synthetic_world_detection.py',
    '../_base_/default_runtime_detection.py'
]
model = dict(
    type='RPN',
    data_preprocessor=dict(type='mmdet.DetDataPreprocessor', mean={{_base_.tiny_c4_rpn.mean}},
                           std={{_base_.tiny_c4_rpn.std}}, bgr_to_rgb=False,
                           pad_size_divisor={{_base_.tiny_c4_rpn.size_divisor}}),
    backbone={{_base_.tiny_c4_rpn.backbone}},
    neck=None,
    rpn_head={{_base_.tiny_c4_rpn.rpn_head}},
    train_cfg=dict(
        rpn=dict(
            assigner=dict(type='MaxIoUAssigner', pos_iou_thr=0.7, neg_iou_thr=0.3, min_pos_iou=0.3,
                          match_low_quality=True, ignore_iof_thr=-1),
            sampler=dict(type='RandomSampler', num=256, pos_fraction=0.5, neg_pos_ub=-1, add_gt_as_proposals=False),
            allowed_border=-1,
            pos_weight=-1,
            debug=False)),
    test_cfg=dict(rpn=dict(nms_pre=3000, max_per_img=1000, nms=dict(type='nms', iou_threshold=0.7), min_bbox_size=0)))
# Boxes only: no masks to load.
train_pipeline = [
    dict(type='LoadImageFromFile'),
    dict(type='mmdet.LoadAnnotations', with_bbox=True),
    dict(type='RandomResize', scale=(224, 224), ratio_range=(0.75, 1.25), keep_ratio=True, resize_type='mmdet.Resize'),
    dict(type='mmdet.RandomFlip', prob=0.5),
    dict(type='mmdet.PackDetInputs'),
]
train_dataloader = dict(batch_size=8, sampler=dict(type='InfiniteSampler', shuffle=True),
                        dataset=dict(pipeline=train_pipeline))
data_root = 'data/synthetic_world'
val_evaluator = dict(type='mmdet.CocoMetric', ann_file=data_root + '/annotations/instances_val.json',
                     metric='proposal')
test_evaluator = val_evaluator
iterations = 400
optim_wrapper = dict(type='OptimWrapper', optimizer=dict(type='SGD', lr=0.02, momentum=0.9, weight_decay=1e-4),
                     clip_grad=dict(max_norm=10.0))
param_scheduler = [
    dict(type='LinearLR', start_factor=0.01, by_epoch=False, begin=0, end=50),
    dict(type='MultiStepLR', by_epoch=False, begin=0, end=iterations, milestones=[300, 370], gamma=0.1),
]
train_cfg = dict(type='IterBasedTrainLoop', max_iters=iterations, val_interval=iterations)
val_cfg = dict(type='ValLoop')
test_cfg = dict(type='TestLoop')
default_hooks = dict(logger=dict(interval=50), checkpoint=dict(interval=iterations))
