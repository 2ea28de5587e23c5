# ADE20K-full (ADE-847) as SAN/CAT-Seg prepare it: uint16 TIFF label maps, 0..846, 65535 ignored.
# 847 classes do not fit in uint8, so maps are read with Load16BitAnnotations (mmseg's LoadAnnotations
# would cast them to uint8) and scored with ignore_index=65535 (255 is a real class here). Models that train
# on it must also pad label maps with 65535 (data_preprocessor seg_pad_val) and ignore it in their loss.
# Layout and conversion: docs/datasets.md.
dataset_type = 'ADE20K847Dataset'
data_root = 'data/ADE20K_2021_17_01'
crop_size = (512, 512)
ignore_index = 65535
train_pipeline = [
    dict(type='LoadImageFromFile'),
    dict(type='Load16BitAnnotations'),
    dict(type='RandomResize', scale=(2048, 512), ratio_range=(0.5, 2.0), keep_ratio=True),
    dict(type='RandomCrop', crop_size=crop_size, cat_max_ratio=0.75, ignore_index=ignore_index),
    dict(type='RandomFlip', prob=0.5),
    dict(type='PhotoMetricDistortion'),
    dict(type='PackSegInputs'),
]
# Predictions are resized back to the original image, so annotations are loaded after the resize.
test_pipeline = [
    dict(type='LoadImageFromFile'),
    dict(type='Resize', scale=(2048, 512), keep_ratio=True),
    dict(type='Load16BitAnnotations'),
    dict(type='PackSegInputs'),
]
train_dataloader = dict(
    batch_size=4,
    num_workers=4,
    persistent_workers=True,
    sampler=dict(type='InfiniteSampler', shuffle=True),
    dataset=dict(type=dataset_type, data_root=data_root,
                 data_prefix=dict(img_path='images_detectron2/training',
                                  seg_map_path='annotations_detectron2/training'),
                 pipeline=train_pipeline))
val_dataloader = dict(
    batch_size=1,
    num_workers=4,
    persistent_workers=True,
    sampler=dict(type='DefaultSampler', shuffle=False),
    dataset=dict(type=dataset_type, data_root=data_root,
                 data_prefix=dict(img_path='images_detectron2/validation',
                                  seg_map_path='annotations_detectron2/validation'),
                 pipeline=test_pipeline))
test_dataloader = val_dataloader
val_evaluator = dict(type='IoUMetric', iou_metrics=['mIoU'], ignore_index=ignore_index)
test_evaluator = val_evaluator
