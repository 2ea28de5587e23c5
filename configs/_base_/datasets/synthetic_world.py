# The synthetic world: scenes of coloured shapes, 64 classes '<colour> <shape>', 16 of them unseen in
# training (metainfo 'unseen_classes'). Write it with
#   python tools/make_synthetic_world.py data/synthetic_world
# Labels follow ADE20K (0 = background -> 255 ignored by reduce_zero_label). Scenes are 128-224 px,
# the scale the embedded clipdense-tiny CLIP was trained at, so the test pipeline does not resize;
# configs for CLIPs trained on larger images add a Resize before LoadAnnotations.
dataset_type = 'SyntheticWorldDataset'
data_root = 'data/synthetic_world'
crop_size = (128, 128)
# No PhotoMetricDistortion: hue and saturation jitter would change the colour, i.e. the class.
train_pipeline = [
    dict(type='LoadImageFromFile'),
    dict(type='LoadAnnotations', reduce_zero_label=True),
    dict(type='RandomResize', scale=(224, 224), ratio_range=(0.75, 1.5), keep_ratio=True),
    dict(type='RandomCrop', crop_size=crop_size, cat_max_ratio=0.75),
    dict(type='RandomFlip', prob=0.5),
    dict(type='PackSegInputs'),
]
test_pipeline = [
    dict(type='LoadImageFromFile'),
    dict(type='LoadAnnotations', reduce_zero_label=True),
    dict(type='PackSegInputs'),
]
train_dataloader = dict(
    batch_size=8,
    num_workers=2,
    persistent_workers=True,
    sampler=dict(type='InfiniteSampler', shuffle=True),
    dataset=dict(type=dataset_type, data_root=data_root,
                 data_prefix=dict(img_path='images/training', seg_map_path='annotations/training'),
                 pipeline=train_pipeline))
val_dataloader = dict(
    batch_size=1,
    num_workers=2,
    persistent_workers=True,
    sampler=dict(type='DefaultSampler', shuffle=False),
    dataset=dict(type=dataset_type, data_root=data_root,
                 data_prefix=dict(img_path='images/validation', seg_map_path='annotations/validation'),
                 pipeline=test_pipeline))
test_dataloader = val_dataloader
val_evaluator = dict(type='IoUMetric', iou_metrics=['mIoU'])
test_evaluator = val_evaluator
