# SAN ViT-B/16 trained on COCO-Stuff-164k (171 classes) at 640, the official recipe (MendelXu/SAN
# configs/san_clip_vit_res4_coco.yaml): 60k iterations at global batch 32 (4 GPUs x 8; add --amp as the reference).
# The other configs of this folder evaluate the same model on other vocabularies without training.
# Reference (released log): mIoU 41.9 on COCO-Stuff-171.
_base_ = [
    '../_base_/models/san_vit-b16.py', '../_base_/datasets/coco_stuff164k.py', '../_base_/default_runtime.py',
    '../_base_/schedules/san_60k.py'
]
crop_size = (640, 640)
model = dict(vocabulary='{{fileDirname}}/../../clipdense/datasets/vocabularies/san/coco_stuff171.txt')
# Official augmentation: short side from 320..960 (step 64, max 2560), a 640 crop, SSD colour jitter (mmseg's
# PhotoMetricDistortion draws the hue shift from -18..17, the reference's from -18..18), flip, and padding to 640
# with pixel 128 before normalisation (labels 255).
train_pipeline = [
    dict(type='LoadImageFromFile'),
    dict(type='LoadAnnotations'),
    dict(type='RandomChoiceResize', scales=[int(640 * x * 0.1) for x in range(5, 16)],
         resize_type='ResizeShortestEdge', max_size=2560),
    dict(type='RandomCrop', crop_size=crop_size, cat_max_ratio=1.0),
    dict(type='PhotoMetricDistortion'),
    dict(type='RandomFlip', prob=0.5),
    dict(type='Pad', size=crop_size, pad_val=dict(img=128, seg=255)),
    dict(type='PackSegInputs'),
]
# Whole-image inference at short side 640 (long side at most 2560), padded by 0 after normalisation to a
# multiple of 32, resized as detectron2 does in the reference (its output size, PIL's antialiasing bilinear filter;
# mmseg's port resizes with cv2). Training resizes with cv2 (mmcv), the reference with PIL.
test_pipeline = [
    dict(type='LoadImageFromFile'),
    dict(type='Detectron2ResizeShortestEdge', scale=640, max_size=2560),
    dict(type='LoadAnnotations'),
    dict(type='PackSegInputs'),
]
train_dataloader = dict(batch_size=8, dataset=dict(pipeline=train_pipeline))
val_dataloader = dict(dataset=dict(pipeline=test_pipeline))
test_dataloader = val_dataloader
# mIoU over the classes in the ground truth, as the reference's detectron2 SemSegEvaluator
val_evaluator = dict(type='OpenVocabIoUMetric', ground_truth_classes_only=True)
test_evaluator = val_evaluator
