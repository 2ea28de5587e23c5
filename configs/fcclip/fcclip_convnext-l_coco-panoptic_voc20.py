# FC-CLIP ConvNeXt-L trained on COCO panoptic (fcclip_convnext-l_coco-panoptic-1024x1024.py), evaluated on PASCAL
# VOC-20 (background ignored) without training, with FC-CLIP's names (voc20.txt). Semantic output only in the
# reference, so classes are combined at the padded input ('padded'). Reference (README, test log): mIoU 95.4
# (95.3521).
# Test only:
#   python tools/test.py configs/fcclip/fcclip_convnext-l_coco-panoptic_voc20.py CHECKPOINT
_base_ = [
    '../_base_/models/fcclip_convnext-l.py', '../_base_/datasets/voc20.py', '../_base_/default_runtime.py',
    '../_base_/schedules/inference_only.py'
]
model = dict(vocabulary='{{fileDirname}}/../../clipdense/datasets/vocabularies/fcclip/voc20.txt',
             test_cfg=dict(mask_combine='padded'))
test_pipeline = [
    dict(type='LoadImageFromFile'),
    dict(type='Detectron2ResizeShortestEdge', scale=800, max_size=1333),
    dict(type='LoadAnnotations', reduce_zero_label=True),
    dict(type='PackSegInputs'),
]
val_dataloader = dict(dataset=dict(pipeline=test_pipeline))
test_dataloader = val_dataloader
# mIoU over the classes in the ground truth, as the reference's detectron2 SemSegEvaluator
val_evaluator = dict(type='OpenVocabIoUMetric', ground_truth_classes_only=True)
test_evaluator = val_evaluator
train_dataloader = None
