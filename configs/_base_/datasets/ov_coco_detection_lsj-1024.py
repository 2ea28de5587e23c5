# OV-COCO at ViLD's input (configs/vild_resnet.yaml): 1024 x 1024 large-scale jitter (scale 0.1-2.0 of 1024,
# random crop to 1024, horizontal flip), crowd boxes skipped; test as the reference (TFResizeAndPad). Models pad batches
# to 1024 (data_preprocessor batch_augments). ViLD configs that distil add LoadRegionEmbeddings after the
# annotations and pack the region meta keys (configs/vild/).
_base_ = ['./ov_coco_detection.py']
image_size = (1024, 1024)
train_pipeline = [
    dict(type='LoadImageFromFile'),
    dict(type='mmdet.LoadAnnotations', with_bbox=True, with_mask=True),
    dict(type='RandomResize', scale=image_size, ratio_range=(0.1, 2.0), keep_ratio=True, resize_type='mmdet.Resize'),
    dict(type='mmdet.RandomCrop', crop_type='absolute_range', crop_size=image_size, recompute_bbox=True,
         allow_negative_crop=True),
    dict(type='mmdet.FilterAnnotations', min_gt_bbox_wh=(1e-2, 1e-2)),
    dict(type='mmdet.RandomFlip', prob=0.5),
    dict(type='mmdet.PackDetInputs'),
]
test_pipeline = [
    dict(type='LoadImageFromFile'),
    # The reference's test input: scaled into 1024 x 1024 with TF's bilinear resize, padded to it with the
    # preprocessor's mean (BGR here), i.e. 0 after normalisation; boxes are clipped to the padded square.
    dict(type='TFResizeAndPad', size=image_size, pad_val=(103.53, 116.28, 123.675)),
    dict(type='mmdet.LoadAnnotations', with_bbox=True),
    dict(type='mmdet.PackDetInputs', meta_keys=('img_id', 'img_path', 'ori_shape', 'img_shape', 'scale_factor')),
]
train_dataloader = dict(dataset=dict(pipeline=train_pipeline))
val_dataloader = dict(dataset=dict(pipeline=test_pipeline))
test_dataloader = val_dataloader
