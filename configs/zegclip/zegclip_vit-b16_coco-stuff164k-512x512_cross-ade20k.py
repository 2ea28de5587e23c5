# ZegCLIP cross-dataset: the COCO-Stuff-164k inductive model evaluated on ADE20K-150 without training (layout:
# docs/datasets.md). Reference: none shipped (the maintainers explain in issue #8 how to write one); mmseg's
# ADE20K-150 class names. As the reference's cross-dataset
# configs, every class loses 0.1 of its score (penalize='all', which changes no label). Test only:
#   python tools/test.py configs/zegclip/zegclip_vit-b16_coco-stuff164k-512x512_cross-ade20k.py CHECKPOINT
_base_ = ['./zegclip_vit-b16_coco-stuff164k-512x512_inductive.py']
model = dict(
    vocabulary='{{fileDirname}}/../../clipdense/datasets/vocabularies/zegclip/ade20k.txt',
    templates='zegclip15',
    penalize='all')
# The reference's test resize: short side exactly 512 (cv2 bilinear on uint8), no cap on the long side.
test_pipeline = [
    dict(type='LoadImageFromFile'),
    dict(type='ResizeShortestEdge', scale=512, max_size=1 << 30),
    dict(type='LoadAnnotations', reduce_zero_label=True),
    dict(type='PackSegInputs'),
]
val_dataloader = dict(
    dataset=dict(_delete_=True, type='ADE20KDataset', data_root='data/ade/ADEChallengeData2016',
                 data_prefix=dict(img_path='images/validation', seg_map_path='annotations/validation'),
                 pipeline=test_pipeline))
test_dataloader = val_dataloader
val_evaluator = dict(type='OpenVocabIoUMetric')
test_evaluator = val_evaluator
train_dataloader = None
train_cfg = None
optim_wrapper = None
param_scheduler = None
