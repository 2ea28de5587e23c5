# CLIP-FCN: a frozen CLIP ViT-B/16 with a trained text-classifier head on ADE20K-150 (the foundation's
# trained baseline; no reference repository). The head classifies by cosine against the class-name
# embeddings, so the vocabulary can be changed after training.
_base_ = [
    '../_base_/models/clip_fcn.py', '../_base_/datasets/ade20k.py', '../_base_/default_runtime.py',
    '../_base_/schedules/schedule_20k.py'
]
crop_size = (512, 512)
model = dict(
    data_preprocessor=dict(size=crop_size),
    vocabulary='{{fileDirname}}/../../clipdense/datasets/vocabularies/sclip/ade20k.txt')
