# COCO panoptic 2017, 133 classes, read from the panoptic release (panoptic_{train,val}2017.json and PNGs). Training:
# one mask per non-crowd segment, as Mask2Former and FC-CLIP train. Evaluation: the semantic map of the segments
# (crowd regions keep their class, void 255: detectron2's panoptic_semseg maps) for mIoU, and the segments with
# their segments_info for PQ (PanopticQualityMetric); img_id lets mmdet's CocoMetric score instance output against
# instances_val2017.json. Layout: docs/datasets.md.
data_root = 'data/coco'
crop_size = (1024, 1024)
# Large-scale jitter (detectron2's LSJ: flip, resize to 0.1-2.0 of 1024, 1024 crop padded with pixel 128).
train_pipeline = [
    dict(type='LoadImageFromFile'),
    dict(type='LoadPanopticAnnotations'),
    dict(type='RandomFlip', prob=0.5),
    dict(type='RandomResize', scale=(1024, 1024), ratio_range=(0.1, 2.0), keep_ratio=True),
    dict(type='RandomCrop', crop_size=crop_size, cat_max_ratio=1.0),
    dict(type='Pad', size=crop_size, pad_val=dict(img=128, seg=255)),
    dict(type='PackPanopticSegInputs'),
]
test_pipeline = [
    dict(type='LoadImageFromFile'),
    dict(type='Detectron2ResizeShortestEdge', scale=800, max_size=1333),
    dict(type='LoadPanopticAnnotations'),
    dict(type='PackSegInputs',
         meta_keys=('img_path', 'seg_map_path', 'ori_shape', 'img_shape', 'pad_shape', 'scale_factor', 'flip',
                    'flip_direction', 'reduce_zero_label', 'segments_info', 'img_id')),
]
train_dataloader = dict(
    batch_size=2,
    num_workers=4,
    persistent_workers=True,
    sampler=dict(type='InfiniteSampler', shuffle=True),
    dataset=dict(type='COCOPanopticSegDataset', data_root=data_root, ann_file='annotations/panoptic_train2017.json',
                 data_prefix=dict(img_path='train2017', seg_map_path='annotations/panoptic_train2017'),
                 pipeline=train_pipeline))
val_dataloader = dict(
    batch_size=1,
    num_workers=4,
    persistent_workers=True,
    sampler=dict(type='DefaultSampler', shuffle=False),
    dataset=dict(type='COCOPanopticSegDataset', data_root=data_root, ann_file='annotations/panoptic_val2017.json',
                 data_prefix=dict(img_path='val2017', seg_map_path='annotations/panoptic_val2017'),
                 pipeline=test_pipeline))
test_dataloader = val_dataloader
val_evaluator = [dict(type='IoUMetric', iou_metrics=['mIoU']), dict(type='PanopticQualityMetric')]
test_evaluator = val_evaluator
