# NACLIP with the embedded clipdense-tiny CLIP on the synthetic world's val set (see
# configs/sclip/sclip_clipdense-tiny_synthetic-world.py): 64-px windows, stride 32, NACLIP's PAMR unchanged.
_base_ = [
    '../_base_/models/naclip_vit-b16.py', '../_base_/datasets/synthetic_world.py',
    '../_base_/default_runtime.py', '../_base_/schedules/inference_only.py'
]
model = dict(
    clip=dict(name='clipdense-tiny', pretrained='embedded'),
    vocabulary='{{fileDirname}}/../../clipdense/assets/vocabularies/synthetic_world.txt',
    crop_size=64,
    stride=32)
train_dataloader = None
