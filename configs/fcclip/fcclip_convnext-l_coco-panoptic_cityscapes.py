# FC-CLIP ConvNeXt-L trained on COCO panoptic (fcclip_convnext-l_coco-panoptic-1024x1024.py), evaluated on
# Cityscapes (19 classes) without training, with FC-CLIP's names (cityscapes.txt). The reference infers panoptic
# and instance output here too (masks resized to the original image before combining, 'original') at short side
# 1024, long side at most 2560; so does this config (pred_panoptic_seg and pred_instances of the 8 Cityscapes thing
# classes: object-mask threshold 0.0, overlap 0.8, 100 instances per image). Scored: mIoU on the train-id maps and
# PQ on the panoptic annotation (CityscapesPanopticDataset: csCreatePanopticImgs' json and PNGs,
# docs/datasets.md); no mask AP: no Cityscapes instance loader.
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
    dict(type='PackSegInputs',
         meta_keys=('img_path', 'seg_map_path', 'pan_seg_map_path', 'segments_info', 'ori_shape', 'img_shape',
                    'pad_shape', 'scale_factor', 'flip', 'flip_direction', 'reduce_zero_label')),
]
val_dataloader = dict(dataset=dict(
    _delete_=True, type='CityscapesPanopticDataset', data_root='data/cityscapes',
    ann_file='gtFine/cityscapes_panoptic_val.json',
    data_prefix=dict(img_path='leftImg8bit/val', seg_map_path='gtFine/val',
                     pan_seg_map_path='gtFine/cityscapes_panoptic_val'),
    pipeline=test_pipeline))
test_dataloader = val_dataloader
val_evaluator = [dict(type='OpenVocabIoUMetric'), dict(type='PanopticQualityMetric')]
test_evaluator = val_evaluator
train_dataloader = None
