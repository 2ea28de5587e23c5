# SAN ViT-L/14-336 trained on COCO-Stuff-171 (san_vit-l14-336_coco-stuff164k-640x640.py), evaluated on PASCAL
# Context-59 without training, with SAN's names (`diningtable`, not mmseg's `table`). Reference (released log): mIoU
# 57.5. Test only:
#   python tools/test.py configs/san/san_vit-l14-336_coco-stuff164k-640x640_cross-context59.py CHECKPOINT
_base_ = ['./san_vit-b16_coco-stuff164k-640x640_cross-context59.py']
# The model of san_vit-l14-336_coco-stuff164k-640x640.py; dataset and vocabulary from the ViT-B/16 test config.
model = dict(
    clip=dict(name='ViT-L-14-336', pretrained='openai'),
    backbone=dict(split=18, feature_layers=(0, 6, 12, 18), input_scale=0.7),
    decode_head=dict(embed_dim=768, san_cfg=dict(clip_channels=1024, cfg_decoder=dict(num_heads=16))))
