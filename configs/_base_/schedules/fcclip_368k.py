# FC-CLIP's official recipe (bytedance/fc-clip configs/coco/panoptic-segmentation/Base-COCO-PanopticSegmentation.yaml,
# train_net.py build_optimizer): AdamW at 1e-4, weight decay 0.05 except on norm layers and nn.Embedding tables (the
# decoder's query features, query positions and level embedding, the void embedding; the pixel decoder's level
# embedding is a plain parameter there and decays), gradients clipped to 0.01 (L2, over all trainable parameters),
# the rate x0.1 at iterations 327,778 and 355,092 of 368,750 at global batch 16 (8 GPUs x 2). The reference's
# 10-iteration warm-up has factor 1.0, i.e. none. It trains with AMP: add --amp to tools/train.py.
iterations = 368750
optim_wrapper = dict(
    type='OptimWrapper',
    optimizer=dict(type='AdamW', lr=1e-4, betas=(0.9, 0.999), eps=1e-8, weight_decay=0.05),
    clip_grad=dict(max_norm=0.01, norm_type=2),
    paramwise_cfg=dict(
        norm_decay_mult=0.0,
        custom_keys={
            'decode_head.query_embed': dict(decay_mult=0.0),
            'decode_head.query_feat': dict(decay_mult=0.0),
            'decode_head.level_embed': dict(decay_mult=0.0),
            'decode_head.void_embedding': dict(decay_mult=0.0),
        }))
param_scheduler = [
    dict(type='MultiStepLR', milestones=[327778, 355092], gamma=0.1, begin=0, end=iterations, by_epoch=False)
]
train_cfg = dict(type='IterBasedTrainLoop', max_iters=iterations, val_interval=5000)
val_cfg = dict(type='ValLoop')
test_cfg = dict(type='TestLoop')
default_hooks = dict(
    timer=dict(type='IterTimerHook'),
    logger=dict(type='LoggerHook', interval=50, log_metric_by_epoch=False),
    param_scheduler=dict(type='ParamSchedulerHook'),
    checkpoint=dict(type='CheckpointHook', by_epoch=False, interval=5000),
    sampler_seed=dict(type='DistSamplerSeedHook'),
    visualization=dict(type='SegVisualizationHook'))
auto_scale_lr = dict(enable=False, base_batch_size=16)
