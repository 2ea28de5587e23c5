# SAN ViT-B/16 trained on COCO-Stuff-171 (san_vit-b16_coco-stuff164k-640x640.py), evaluated on PASCAL Context-59
# without training, with SAN's names (`diningtable`, not mmseg's `table`). Reference (released log): mIoU 54.1. Test
# only:
#   python tools/test.py configs/san/san_vit-b16_coco-stuff164k-640x640_cross-context59.py CHECKPOINT
_base_ = ['./san_vit-b16_coco-stuff164k-640x640_cross-voc20.py']  # test only, as it
model = dict(vocabulary='{{fileDirname}}/../../clipdense/datasets/vocabularies/san/context59.txt')
test_pipeline = [
    dict(type='LoadImageFromFile'),
    dict(type='Detectron2ResizeShortestEdge', scale=640, max_size=2560),
    dict(type='LoadAnnotations', reduce_zero_label=True),
    dict(type='PackSegInputs'),
]
val_dataloader = dict(
    dataset=dict(_delete_=True, type='PascalContextDataset59', data_root='data/VOCdevkit/VOC2010',
                 data_prefix=dict(img_path='JPEGImages', seg_map_path='SegmentationClassContext'),
                 ann_file='ImageSets/SegmentationContext/val.txt', pipeline=test_pipeline))
test_dataloader = val_dataloader
# mIoU over the classes in the ground truth, as the reference's detectron2 SemSegEvaluator
val_evaluator = dict(type='OpenVocabIoUMetric', ground_truth_classes_only=True)
test_evaluator = val_evaluator
