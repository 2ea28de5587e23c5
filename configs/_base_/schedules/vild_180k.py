# ViLD's LVIS schedule (configs/vild_resnet.yaml, modeling/learning_rates.py): 180,000 iterations of batch 256,
# momentum SGD at 0.32 with a linear warm-up from 0.0032 over 1,000 iterations, x0.1 at 162k and 171k (the third
# listed step, 175.5k, is never reached: the reference zips two levels with three steps), L2 weight decay 4e-5
# on weights (kernels) only. Single node: mmengine's linear scaling (auto_scale_lr, --auto-scale-lr) turns
# 0.32 at 256 into 0.01 at 8 GPUs x 1 image; keep the iteration count for the same number of epochs x 32.
iterations = 180000
optim_wrapper = dict(
    type='OptimWrapper',
    optimizer=dict(type='SGD', lr=0.32, momentum=0.9, weight_decay=4e-5),
    paramwise_cfg=dict(bias_decay_mult=0.0, norm_decay_mult=0.0))
param_scheduler = [
    dict(type='LinearLR', start_factor=0.01, by_epoch=False, begin=0, end=1000),
    dict(type='MultiStepLR', by_epoch=False, begin=0, end=iterations, milestones=[162000, 171000], gamma=0.1),
]
train_cfg = dict(type='IterBasedTrainLoop', max_iters=iterations, val_interval=iterations)
val_cfg = dict(type='ValLoop')
test_cfg = dict(type='TestLoop')
auto_scale_lr = dict(enable=False, base_batch_size=256)
