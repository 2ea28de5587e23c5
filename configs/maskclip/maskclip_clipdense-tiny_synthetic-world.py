# MaskCLIP with the embedded clipdense-tiny CLIP on the synthetic world's val set (see
# configs/sclip/sclip_clipdense-tiny_synthetic-world.py): whole image, corner padding, 85 templates.
_base_ = [
    '../_base_/models/maskclip_vit-b16.py', '../_base_/datasets/synthetic_world.py',
    '../_base_/default_runtime.py', '../_base_/schedules/inference_only.py'
]
model = dict(
    clip=dict(name='clipdense-tiny', pretrained='embedded'),
    vocabulary='{{fileDirname}}/../../clipdense/assets/vocabularies/synthetic_world.txt')
train_dataloader = None
