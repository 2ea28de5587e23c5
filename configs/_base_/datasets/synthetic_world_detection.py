# The synthetic world as an open-vocabulary detection benchmark: 64 classes '<colour> <shape>', 48 base (annotated in
# training) and 16 novel (never in the training images), evaluated like OV-COCO (AP50 novel / base / all). Write it
# with `python tools/make_synthetic_world.py data/synthetic_world` (annotations/instances_{train,val}.json).
# Scenes are 128-224 px, the scale the embedded CLIPs were trained at: resized to fit 224, not to COCO's 1333x800.
dataset_type = 'SyntheticWorldDetDataset'
data_root = 'data/synthetic_world'
# No photometric distortion: hue and saturation jitter would change the colour, i.e. the class.
train_pipeline = [
    dict(type='LoadImageFromFile'),
    dict(type='mmdet.LoadAnnotations', with_bbox=True, with_mask=True),
    dict(type='mmdet.Resize', scale=(224, 224), keep_ratio=True),
    dict(type='mmdet.RandomFlip', prob=0.5),
    dict(type='mmdet.PackDetInputs'),
]
test_pipeline = [
    dict(type='LoadImageFromFile'),
    dict(type='mmdet.Resize', scale=(224, 224), keep_ratio=True),
    dict(type='mmdet.LoadAnnotations', with_bbox=True),
    dict(type='mmdet.PackDetInputs', meta_keys=('img_id', 'img_path', 'ori_shape', 'img_shape', 'scale_factor')),
]
train_dataloader = dict(
    batch_size=4,
    num_workers=2,
    persistent_workers=True,
    sampler=dict(type='DefaultSampler', shuffle=True),
    dataset=dict(type=dataset_type, data_root=data_root, ann_file='annotations/instances_train.json',
                 data_prefix=dict(img='images/'), filter_cfg=dict(filter_empty_gt=True), pipeline=train_pipeline))
val_dataloader = dict(
    batch_size=4,
    num_workers=2,
    persistent_workers=True,
    drop_last=False,
    sampler=dict(type='DefaultSampler', shuffle=False),
    dataset=dict(type=dataset_type, data_root=data_root, ann_file='annotations/instances_val.json',
                 data_prefix=dict(img='images/'), test_mode=True, pipeline=test_pipeline))
test_dataloader = val_dataloader
val_evaluator = dict(type='OVCocoMetric', ann_file=data_root + '/annotations/instances_val.json', metric='bbox')
test_evaluator = val_evaluator
