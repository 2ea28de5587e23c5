# ZegCLIP cross-dataset: the COCO-Stuff-164k inductive model evaluated on VOC-20 without training (layout:
# docs/datasets.md). Reference: configs/cross_dataset/coco-to-voc.py, with its single-prompt VOC text. As the
# reference's cross-dataset configs, every class loses 0.1 of its score (penalize='all', which changes no label).
# The Context-59 and ADE-150 versions inherit from this one. Test only:
#   python tools/test.py configs/zegclip/zegclip_vit-b16_coco-stuff164k-512x512_cross-voc20.py CHECKPOINT
_base_ = ['./zegclip_vit-b16_coco-stuff164k-512x512_inductive.py']
model = dict(
    vocabulary='{{fileDirname}}/../../clipdense/datasets/vocabularies/zegclip/voc20.txt',
    templates='zegclip_single',
    penalize='all')
# The reference's test resize: short side exactly 512 (cv2 bilinear on uint8), no cap on the long side.
test_pipeline = [
    dict(type='LoadImageFromFile'),
    dict(type='ResizeShortestEdge', scale=512, max_size=1 << 30),
    dict(type='LoadAnnotations', reduce_zero_label=True),
    dict(type='PackSegInputs'),
]
val_dataloader = dict(
    dataset=dict(_delete_=True, type='PascalVOC20Dataset', data_root='data/VOCdevkit/VOC2012',
                 data_prefix=dict(img_path='JPEGImages', seg_map_path='SegmentationClass'),
                 ann_file='ImageSets/Segmentation/val.txt',
                 pipeline=test_pipeline))
test_dataloader = val_dataloader
val_evaluator = dict(type='OpenVocabIoUMetric')
test_evaluator = val_evaluator
train_dataloader = None
train_cfg = None
optim_wrapper = None
param_scheduler = None
