# ZegCLIP, inductive zero-shot on COCO-Stuff-164k (171 classes: 156 seen, 15 unseen), ViT-B/16 at 512, 100 prompt
# tokens, the 15-template text ensemble, 80k iterations at batch 16 (4 GPUs x 4). Reference:
# configs/coco/vpt_seg_zero_vit-b_512x512_80k_12_100_multi.py; README figures (average of several runs): mIoU seen
# 40.2 / unseen 41.1, hIoU 40.8 (pAcc 62.0).
_base_ = [
    '../_base_/models/zegclip_vit-b16.py', '../_base_/datasets/coco_stuff164k.py', '../_base_/default_runtime.py',
    '../_base_/schedules/zegclip_20k.py'
]
model = dict(
    vocabulary='{{fileDirname}}/../../clipdense/datasets/vocabularies/zegclip/coco_stuff171.txt',
    train_vocabulary='{{fileDirname}}/../../clipdense/datasets/vocabularies/zegclip/coco_stuff171_seen.txt',
    templates='zegclip15',
    backbone=dict(num_prompts=100))
iterations = 80000
param_scheduler = [
    dict(type='LinearLR', start_factor=1e-6, by_epoch=False, begin=0, end=1500),
    dict(type='PolyLR', eta_min=1e-6, power=0.9, by_epoch=False, begin=0, end=iterations),
]
train_cfg = dict(max_iters=iterations, val_interval=iterations)
default_hooks = dict(checkpoint=dict(interval=8000))
# The reference's test resize: short side exactly 512 (cv2 bilinear on uint8), no cap on the long side.
test_pipeline = [
    dict(type='LoadImageFromFile'),
    dict(type='ResizeShortestEdge', scale=512, max_size=1 << 30),
    dict(type='LoadAnnotations'),
    dict(type='PackSegInputs'),
]
val_dataloader = dict(dataset=dict(pipeline=test_pipeline))
test_dataloader = val_dataloader
val_evaluator = dict(
    type='OpenVocabIoUMetric',
    unseen_classes='{{fileDirname}}/../../clipdense/datasets/vocabularies/zegclip/coco_stuff171_unseen.txt')
test_evaluator = val_evaluator
