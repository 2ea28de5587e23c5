# ZegCLIP's schedule (mmcv-1 poly 0.9 with a 1500-iteration linear warm-up from 1e-6, min lr 1e-6): AdamW at
# 2e-4 and weight decay 0.01 for every trainable parameter (the reference's norm decay_mult keys never match, so
# norms decay too), evaluated once at the end. Global batch 16 (4 GPUs x 4).
_base_ = ['./schedule_20k.py']
iterations = 20000
param_scheduler = [
    dict(type='LinearLR', start_factor=1e-6, by_epoch=False, begin=0, end=1500),
    dict(type='PolyLR', eta_min=1e-6, power=0.9, by_epoch=False, begin=0, end=iterations),
]
train_cfg = dict(max_iters=iterations, val_interval=iterations)
auto_scale_lr = dict(enable=False, base_batch_size=16)
