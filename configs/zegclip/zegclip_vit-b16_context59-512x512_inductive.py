# ZegCLIP, inductive zero-shot on PASCAL Context-59 (49 seen, 10 unseen classes): a setting the reference never
# shipped (its README and issue #18 have no Context code, split or text embeddings). The paper reports Context-59 as
# 49 seen / 10 unseen without naming the classes; we use the established 10-class zero-shot split of PASCAL Context,
# ZS3Net's "unseen-10" (Bucher et al., NeurIPS 2019: cow, motorbike, sofa, cat, boat, fence, bird, tvmonitor,
# keyboard, aeroplane), so numbers are comparable with the zero-shot literature on this dataset. Recipe: COCO's
# (100 prompt tokens, 15 templates) on Context's 4,996 training images for 20k iterations. No reference figure: the
# paper's Context numbers come from code and a split that were not released.
_base_ = [
    '../_base_/models/zegclip_vit-b16.py', '../_base_/datasets/context59.py', '../_base_/default_runtime.py',
    '../_base_/schedules/zegclip_20k.py'
]
model = dict(
    vocabulary='{{fileDirname}}/../../clipdense/datasets/vocabularies/zegclip/context59.txt',
    train_vocabulary='{{fileDirname}}/../../clipdense/datasets/vocabularies/zegclip/context59_seen.txt',
    templates='zegclip15',
    backbone=dict(num_prompts=100))
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
    unseen_classes='{{fileDirname}}/../../clipdense/datasets/vocabularies/zegclip/context59_unseen.txt')
test_evaluator = val_evaluator
