# OV-LVIS (ViLD's protocol): train on LVIS v1 without the annotations of its 337 rare categories, test on LVIS v1 val
# with mmdet's LVISMetric (AP, APr = the novel split, APc, APf). Write the training json with
# `python tools/dataset_converters/ov_lvis.py data/lvis_v1/annotations` (docs/datasets.md). LVIS images are COCO
# 2017's, named by their COCO url: data/lvis_v1/{train2017,val2017} (links to COCO's folders are fine).
dataset_type = 'LVISV1Dataset'
data_root = 'data/lvis_v1'
backend_args = None
train_pipeline = [
    dict(type='LoadImageFromFile', backend_args=backend_args),
    dict(type='mmdet.LoadAnnotations', with_bbox=True, with_mask=True),
    # As OV-COCO: shorter side 640-800 in steps of 32, with mmdet's Resize (mmseg's leaves boxes unscaled).
    dict(type='RandomChoiceResize', scales=[(1333, short) for short in range(640, 801, 32)], keep_ratio=True,
         resize_type='mmdet.Resize'),
    dict(type='mmdet.RandomFlip', prob=0.5),
    dict(type='mmdet.PackDetInputs'),
]
test_pipeline = [
    dict(type='LoadImageFromFile', backend_args=backend_args),
    dict(type='mmdet.Resize', scale=(1333, 800), keep_ratio=True),
    dict(type='mmdet.LoadAnnotations', with_bbox=True),
    dict(type='mmdet.PackDetInputs', meta_keys=('img_id', 'img_path', 'ori_shape', 'img_shape', 'scale_factor')),
]
train_dataloader = dict(
    batch_size=2,
    num_workers=2,
    persistent_workers=True,
    sampler=dict(type='DefaultSampler', shuffle=True),
    batch_sampler=dict(type='AspectRatioBatchSampler'),
    # LVIS's long tail: images with infrequent categories repeated (repeat factor sampling, as mmdet's LVIS configs).
    dataset=dict(
        type='ClassBalancedDataset',
        oversample_thr=1e-3,
        dataset=dict(type=dataset_type, data_root=data_root, ann_file='annotations/lvis_v1_train_ov_base.json',
                     data_prefix=dict(img=''), filter_cfg=dict(filter_empty_gt=True, min_size=32),
                     pipeline=train_pipeline, backend_args=backend_args)))
val_dataloader = dict(
    batch_size=1,
    num_workers=2,
    persistent_workers=True,
    drop_last=False,
    sampler=dict(type='DefaultSampler', shuffle=False),
    dataset=dict(type=dataset_type, data_root=data_root, ann_file='annotations/lvis_v1_val.json',
                 data_prefix=dict(img=''), test_mode=True, pipeline=test_pipeline, backend_args=backend_args))
test_dataloader = val_dataloader
# Box AP; detectors that predict masks add 'segm' (ViLD and Detic report mask APr). LVIS counts up to 300
# detections per image: set the detector's test_cfg max_per_img to 300.
val_evaluator = dict(type='mmdet.LVISMetric', ann_file=data_root + '/annotations/lvis_v1_val.json', metric=['bbox'],
                     backend_args=backend_args)
test_evaluator = val_evaluator
