# SAN's official recipe (MendelXu/SAN configs/san_clip_vit_res4_coco.yaml, train_net.py build_optimizer): AdamW at
# 1e-4, weight decay 1e-4 except on positional embeddings, the query embeddings and nn.LayerNorm weights (the side
# adapter's blocks; its fusion LayerNorm2d decays, as in the reference), gradients clipped to 0.01 (L2, over all
# trainable parameters), poly decay with power 0.9 to 0 and no warm-up, 60k iterations at global batch 32
# (4 GPUs x 8). mmseg's port differs in three places (power 1.0, decay on the queries and on the side blocks'
# norms). The reference trains with AMP: add --amp to tools/train.py.
iterations = 60000
optim_wrapper = dict(
    type='OptimWrapper',
    optimizer=dict(type='AdamW', lr=1e-4, betas=(0.9, 0.999), weight_decay=1e-4),
    clip_grad=dict(max_norm=0.01, norm_type=2),
    paramwise_cfg=dict(
        norm_decay_mult=0.0,
        custom_keys={
            'positional_embedding': dict(decay_mult=0.0),
            'pos_embed': dict(decay_mult=0.0),
            'query_embed': dict(decay_mult=0.0),
        }))
param_scheduler = [dict(type='PolyLR', eta_min=0.0, power=0.9, begin=0, end=iterations, by_epoch=False)]
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
auto_scale_lr = dict(enable=False, base_batch_size=32)
