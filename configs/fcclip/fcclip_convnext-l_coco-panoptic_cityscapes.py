# FC-CLIP ConvNeXt-L trained on COCO panoptic (fcclip_convnext-l_coco-panoptic-1024x1024.py), evaluated on
# Cityscapes (19 classes) without training, with FC-CLIP's names (cityscapes.txt). The reference infers panoptic
# and instance output here too (masks resized to the original image before combining, 'original') at short side
# 1024, long side at most 2560; so does this config (pred_panoptic_seg and pred_instances of the 8 Cityscapes thing
# classes: object-mask threshold 0.0, overlap 0.8, 100 instances per image; no PQ here: mmdet's panoptic metric
# needs panopticapi, which is not on PyPI; no mask AP: no Cityscapes instance loader).
# Reference (README, test log): mIoU 56.2 (56.2381).
# Test only:
#   python tools/test.py configs/fcclip/fcclip_convnext-l_coco-panoptic_cityscapes.py CHECKPOINT
_base_ = [
    '../_base_/models/fcclip_convnext-l.py', '../_base_/datasets/cityscapes.py', '../_base_/default_runtime.py',
    '../_base_/schedules/inference_only.py'
]
model = dict(vocabulary='{{fileDirname}}/../../clipdense/datasets/vocabularies/fcclip/cityscapes.txt',
             test_cfg=dict(
                 mask_combine='original',
                 thing_classes='{{fileDirname}}/../../clipdense/datasets/vocabularies/fcclip/cityscapes_things.txt',
                 panoptic=dict(object_mask_threshold=0.0, overlap_threshold=0.8),
                 instance=dict(max_per_image=100)))
test_pipeline = [
    dict(type='LoadImageFromFile'),
    dict(type='Detectron2ResizeShortestEdge', scale=1024, max_size=2560),
    dict(type='LoadAnnotations'),
    dict(type='PackSegInputs'),
]
val_dataloader = dict(dataset=dict(pipeline=test_pipeline))
test_dataloader = val_dataloader
val_evaluator = dict(type='OpenVocabIoUMetric')
test_evaluator = val_evaluator
train_dataloader = None
