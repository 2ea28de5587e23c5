# PASCAL Context-459 (the full labels.txt vocabulary) as CAT-Seg prepares it: uint16 TIFF label maps,
# 0..458, 65535 ignored. 459 classes do not fit in uint8, so maps are read with Load16BitAnnotations (mmseg's
# LoadAnnotations would cast them to uint8) and scored with ignore_index=65535 (255 is a real class here).
# Models that train on it must also pad label maps with 65535 (data_preprocessor seg_pad_val) and ignore it
# in their loss. Images and split lists are shared with Context-59/60. Layout and conversion:
# docs/datasets.md.
dataset_type = 'PascalContext459Dataset'
data_root = 'data/VOCdevkit/VOC2010'
crop_size = (480, 480)
ignore_index = 65535
train_pipeline = [
    dict(type='LoadImageFromFile'),
    dict(type='Load16BitAnnotations'),
    dict(type='RandomResize', scale=(520, 520), ratio_range=(0.5, 2.0), keep_ratio=True),
    dict(type='RandomCrop', crop_size=crop_size, cat_max_ratio=0.75, ignore_index=ignore_index),
    dict(type='RandomFlip', prob=0.5),
    dict(type='PhotoMetricDistortion'),
    dict(type='PackSegInputs'),
]
# Predictions are resized back to the original image, so annotations are loaded after the resize.
test_pipeline = [
    dict(type='LoadImageFromFile'),
    dict(type='Resize', scale=(2048, 520), keep_ratio=True),
    dict(type='Load16BitAnnotations'),
    dict(type='PackSegInputs'),
]
train_dataloader = dict(
    batch_size=4,
    num_workers=4,
    persistent_workers=True,
    sampler=dict(type='InfiniteSampler', shuffle=True),
    dataset=dict(type=dataset_type, data_root=data_root,
                 data_prefix=dict(img_path='JPEGImages', seg_map_path='annotations_detectron2/pc459_train'),
                 ann_file='ImageSets/SegmentationContext/train.txt',
                 pipeline=train_pipeline))
val_dataloader = dict(
    batch_size=1,
    num_workers=4,
    persistent_workers=True,
    sampler=dict(type='DefaultSampler', shuffle=False),
    dataset=dict(type=dataset_type, data_root=data_root,
                 data_prefix=dict(img_path='JPEGImages', seg_map_path='annotations_detectron2/pc459_val'),
                 ann_file='ImageSets/SegmentationContext/val.txt',
                 pipeline=test_pipeline))
test_dataloader = val_dataloader
val_evaluator = dict(type='IoUMetric', iou_metrics=['mIoU'], ignore_index=ignore_index)
test_evaluator = val_evaluator
