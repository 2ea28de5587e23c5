# SAN ViT-B/16 trained on COCO-Stuff-171 (san_vit-b16_coco-stuff164k-640x640.py), evaluated on ADE20K-150 without
# training, with detectron2's ADE-150 names as SAN prompts them (`road, route` is one name; 41 such names, 51 differ
# from mmseg's). Reference (released log): mIoU 27.6. Test only:
#   python tools/test.py configs/san/san_vit-b16_coco-stuff164k-640x640_cross-ade150.py CHECKPOINT
_base_ = ['./san_vit-b16_coco-stuff164k-640x640_cross-voc20.py']  # test only, as it
model = dict(vocabulary='{{fileDirname}}/../../clipdense/datasets/vocabularies/san/ade150.txt')
test_pipeline = [
    dict(type='LoadImageFromFile'),
    dict(type='Detectron2ResizeShortestEdge', scale=640, max_size=2560),
    dict(type='LoadAnnotations', reduce_zero_label=True),
    dict(type='PackSegInputs'),
]
val_dataloader = dict(
    dataset=dict(_delete_=True, type='ADE20KDataset', data_root='data/ade/ADEChallengeData2016',
                 data_prefix=dict(img_path='images/validation', seg_map_path='annotations/validation'),
                 pipeline=test_pipeline))
test_dataloader = val_dataloader
# mIoU over the classes in the ground truth, as the reference's detectron2 SemSegEvaluator
val_evaluator = dict(type='OpenVocabIoUMetric', ground_truth_classes_only=True)
test_evaluator = val_evaluator
