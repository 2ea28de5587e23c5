# SAN ViT-L/14-336 trained on COCO-Stuff-164k (171 classes) at 640 (MendelXu/SAN
# configs/san_clip_vit_large_res4_coco.yaml): CLIP sees the padded image at 0.7x, its first 18 of 24 blocks feed
# the side adapter (fusions after ln_pre and blocks 6/12/18), the last 6 recognise; the decoder's attention bias has
# CLIP's 16 heads. Global batch 32 (8 GPUs x 4; add --amp as the reference). Reference (released log): mIoU 45.6.
_base_ = ['./san_vit-b16_coco-stuff164k-640x640.py']
model = dict(
    clip=dict(name='ViT-L-14-336', pretrained='openai'),
    backbone=dict(split=18, feature_layers=(0, 6, 12, 18), input_scale=0.7),
    decode_head=dict(
        embed_dim=768,
        san_cfg=dict(clip_channels=1024, cfg_decoder=dict(num_heads=16))))
train_dataloader = dict(batch_size=4)
