# ClearCLIP with the embedded clipdense-tiny CLIP on the synthetic world's val set (see
# configs/sclip/sclip_clipdense-tiny_synthetic-world.py). Windows at twice the CLIP's training size, as
# ClearCLIP's 448 windows are for ViT-B/16's 224: 128 px, stride 64, centred padding.
_base_ = [
    '../_base_/models/clearclip_vit-b16.py', '../_base_/datasets/synthetic_world.py',
    '../_base_/default_runtime.py', '../_base_/schedules/inference_only.py'
]
model = dict(
    clip=dict(name='clipdense-tiny', pretrained='embedded'),
    vocabulary='{{fileDirname}}/../../clipdense/assets/vocabularies/synthetic_world.txt',
    crop_size=128,
    stride=64)
train_dataloader = None
