# RegionCLIP zero-shot on the synthetic world's ground-truth boxes (CROP_REGION_TYPE GT, as
# regionclip_r50-c4_zero-shot-gt-boxes_ov-coco.py on OV-COCO): every box of the 64 classes is a proposal, classified
# as it is (no box deltas, no RPN), hard NMS 0.5. No training; the CLIP of
# regionclip_clipdense-tiny-resnet-c4_synthetic-world.py (the embedded clipdense-tiny-resnet):
#   python tools/test.py configs/regionclip/regionclip_clipdense-tiny-resnet-c4_zero-shot-gt-boxes_synthetic-world.py
_base_ = ['./regionclip_clipdense-tiny-resnet-c4_synthetic-world.py']
model = dict(test_proposals='gt', offline_rpn=None, train_cfg=None)
# The boxes are loaded before Resize so that they are resized with the image (they are the proposals).
test_pipeline = [
    dict(type='LoadImageFromFile'),
    dict(type='mmdet.LoadAnnotations', with_bbox=True),
    dict(type='mmdet.Resize', scale=(224, 224), keep_ratio=True),
    dict(type='mmdet.PackDetInputs', meta_keys=('img_id', 'img_path', 'ori_shape', 'img_shape', 'scale_factor')),
]
val_dataloader = dict(dataset=dict(pipeline=test_pipeline))
test_dataloader = val_dataloader
train_dataloader = None
train_cfg = None
optim_wrapper = None
param_scheduler = None
