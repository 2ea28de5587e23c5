# SCLIP with the embedded clipdense-tiny CLIP (ViT, patch 8, trained here at 64 px; docs/embedded_clip.md) on
# the synthetic world's val set (64 colour-shape classes, 16 unseen in the tiny CLIP's training captions).
# The project's accuracy smoke test (tests/test_synthetic_benchmark.py) and the README's demo.
# Windows follow SCLIP's protocol relative to the CLIP's training size: 64-px windows (224 for ViT-B/16) with
# stride 32; no resize (scenes are 128-224 px, the scale the tiny CLIP saw).
_base_ = [
    '../_base_/models/sclip_vit-b16.py', '../_base_/datasets/synthetic_world.py',
    '../_base_/default_runtime.py', '../_base_/schedules/inference_only.py'
]
model = dict(
    clip=dict(name='clipdense-tiny', pretrained='embedded'),
    vocabulary='{{fileDirname}}/../../clipdense/assets/vocabularies/synthetic_world.txt',
    crop_size=64,
    stride=32)
train_dataloader = None
