# SAN ViT-B/16 trained on COCO-Stuff-171 (san_vit-b16_coco-stuff164k-640x640.py), evaluated on ADE20K-847 (uint16
# maps, 65535 ignored) without training, with SAN's 847 names. Reference (released log): mIoU 10.2. Test only:
#   python tools/test.py configs/san/san_vit-b16_coco-stuff164k-640x640_cross-ade847.py CHECKPOINT
_base_ = ['./san_vit-b16_coco-stuff164k-640x640_cross-voc20.py']  # test only, as it
model = dict(vocabulary='{{fileDirname}}/../../clipdense/datasets/vocabularies/common/ade847.txt')
test_pipeline = [
    dict(type='LoadImageFromFile'),
    dict(type='Detectron2ResizeShortestEdge', scale=640, max_size=2560),
    dict(type='Load16BitAnnotations'),
    dict(type='PackSegInputs'),
]
val_dataloader = dict(
    dataset=dict(_delete_=True, type='ADE20K847Dataset', data_root='data/ADE20K_2021_17_01',
                 data_prefix=dict(img_path='images_detectron2/validation',
                                  seg_map_path='annotations_detectron2/validation'),
                 pipeline=test_pipeline))
test_dataloader = val_dataloader
# mIoU over the classes in the ground truth, as the reference's detectron2 SemSegEvaluator
val_evaluator = dict(type='OpenVocabIoUMetric', ignore_index=65535, ground_truth_classes_only=True)
test_evaluator = val_evaluator
