# OV-COCO (OVR-CNN's split of COCO 2017): train on the 48 base categories, test AP50 on 17 novel / 48 base / all 65.
# Write the two jsons with `python tools/dataset_converters/ov_coco.py data/coco/annotations` (docs/datasets.md):
# both list the same 65 categories, so OVCocoDataset gives base classes the same labels in training and testing.
dataset_type = 'OVCocoDataset'
data_root = 'data/coco'
backend_args = None
train_pipeline = [
    dict(type='LoadImageFromFile', backend_args=backend_args),
    dict(type='mmdet.LoadAnnotations', with_bbox=True, with_mask=True),
    # Multi-scale training: shorter side 640-800 in steps of 32, longer side at most 1333 (mmdet's Resize inside:
    # the unscoped name is mmseg's, which leaves boxes and masks unscaled).
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
    dataset=dict(type=dataset_type, data_root=data_root, ann_file='annotations/instances_train2017_ov_base.json',
                 data_prefix=dict(img='train2017/'), filter_cfg=dict(filter_empty_gt=True, min_size=32),
                 pipeline=train_pipeline, backend_args=backend_args))
val_dataloader = dict(
    batch_size=1,
    num_workers=2,
    persistent_workers=True,
    drop_last=False,
    sampler=dict(type='DefaultSampler', shuffle=False),
    dataset=dict(type=dataset_type, data_root=data_root, ann_file='annotations/instances_val2017_ov65.json',
                 data_prefix=dict(img='val2017/'), test_mode=True, pipeline=test_pipeline,
                 backend_args=backend_args))
test_dataloader = val_dataloader
# AP50 on novel / base / all from one COCOeval over the 65 classes (bbox_AP50_novel is the headline number).
val_evaluator = dict(type='OVCocoMetric', ann_file=data_root + '/annotations/instances_val2017_ov65.json',
                     metric='bbox', backend_args=backend_args)
test_evaluator = val_evaluator
