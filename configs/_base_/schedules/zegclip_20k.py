# ZegCLIP's schedule (mmcv-1 poly 0.9 with a 1500-iteration linear warm-up from 1e-6, min lr 1e-6): AdamW at
# 2e-4 and weight decay 0.01 for every trainable parameter (the reference's norm decay_mult keys never match, so
# norms decay too). Global batch 16 (4 GPUs x 4).
iterations = 20000
optim_wrapper = dict(type='OptimWrapper', optimizer=dict(type='AdamW', lr=2e-4, weight_decay=0.01), clip_grad=None)
param_scheduler = [
    dict(type='LinearLR', start_factor=1e-6, by_epoch=False, begin=0, end=1500),
    dict(type='PolyLR', eta_min=1e-6, power=0.9, by_epoch=False, begin=0, end=iterations),
]
train_cfg = dict(type='IterBasedTrainLoop', max_iters=iterations, val_interval=iterations)
val_cfg = dict(type='ValLoop')
test_cfg = dict(type='TestLoop')
default_hooks = dict(
    timer=dict(type='IterTimerHook'),
    logger=dict(type='LoggerHook', interval=50, log_metric_by_epoch=False),
    param_scheduler=dict(type='ParamSchedulerHook'),
    checkpoint=dict(type='CheckpointHook', by_epoch=False, interval=2000),
    sampler_seed=dict(type='DistSamplerSeedHook'),
    visualization=dict(type='SegVisualizationHook'))
auto_scale_lr = dict(enable=False, base_batch_size=16)
