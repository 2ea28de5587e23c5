# ZegCLIP, inductive zero-shot on PASCAL VOC 2012 + SBD (VOC-20: 15 seen, 5 unseen classes), ViT-B/16 at 512,
# 10 prompt tokens, 20k iterations at batch 16 (4 GPUs x 4). Reference: ZiqinZhou66/ZegCLIP
# configs/voc12/vpt_seg_zero_vit-b_512x512_20k_12_10.py. Reference figures (README, average of several runs):
# mIoU seen 91.9 / unseen 77.8, hIoU 84.3 (pAcc 94.6).
# Training sees only the seen classes' text; unseen pixels are ignored as labels (negatives of every class in the
# focal loss, as in the reference). At test all 20 classes are scored; seen ones lose 0.1 of their sigmoid score.
_base_ = [
    '../_base_/models/zegclip_vit-b16.py', '../_base_/datasets/voc20_aug.py', '../_base_/default_runtime.py',
    '../_base_/schedules/zegclip_20k.py'
]
model = dict(
    # The reference's VOC names and its single prompt "a photo of a {}" (no period).
    vocabulary='{{fileDirname}}/../../clipdense/datasets/vocabularies/zegclip/voc20.txt',
    train_vocabulary='{{fileDirname}}/../../clipdense/datasets/vocabularies/zegclip/voc20_seen.txt',
    templates='zegclip_single')
# The reference's test resize: short side exactly 512 (cv2 bilinear on uint8), no cap on the long side.
test_pipeline = [
    dict(type='LoadImageFromFile'),
    dict(type='ResizeShortestEdge', scale=512, max_size=1 << 30),
    dict(type='LoadAnnotations', reduce_zero_label=True),
    dict(type='PackSegInputs'),
]
val_dataloader = dict(dataset=dict(pipeline=test_pipeline))
test_dataloader = val_dataloader
val_evaluator = dict(
    type='OpenVocabIoUMetric',
    unseen_classes='{{fileDirname}}/../../clipdense/datasets/vocabularies/zegclip/voc20_unseen.txt')
test_evaluator = val_evaluator
