# SAN ViT-B/16 trained on COCO-Stuff-171 (san_vit-b16_coco-stuff164k-640x640.py), evaluated on PASCAL VOC-20 (SAN's
# "VOC": the 20 object classes, background ignored) without training, with SAN's VOC names (`tv`, not mmseg's
# `tvmonitor`). Reference (released log): mIoU 93.9. Test only:
#   python tools/test.py configs/san/san_vit-b16_coco-stuff164k-640x640_cross-voc20.py CHECKPOINT
_base_ = ['./san_vit-b16_coco-stuff164k-640x640.py']
model = dict(vocabulary='{{fileDirname}}/../../clipdense/datasets/vocabularies/san/voc20.txt')
test_pipeline = [
    dict(type='LoadImageFromFile'),
    dict(type='Detectron2ResizeShortestEdge', scale=640, max_size=2560),
    dict(type='LoadAnnotations', reduce_zero_label=True),
    dict(type='PackSegInputs'),
]
val_dataloader = dict(
    dataset=dict(_delete_=True, type='PascalVOC20Dataset', data_root='data/VOCdevkit/VOC2012',
                 data_prefix=dict(img_path='JPEGImages', seg_map_path='SegmentationClass'),
                 ann_file='ImageSets/Segmentation/val.txt', pipeline=test_pipeline))
test_dataloader = val_dataloader
# mIoU over the classes in the ground truth, as the reference's detectron2 SemSegEvaluator
val_evaluator = dict(type='OpenVocabIoUMetric', ground_truth_classes_only=True)
test_evaluator = val_evaluator
train_dataloader = None
train_cfg = None
optim_wrapper = None
param_scheduler = None
