# SAN (MendelXu/SAN; mmseg 1.2.2's port is numerically the same network): a frozen CLIP ViT-B/16 whose positional
# embedding trains, fed the padded image at half resolution; its first 9 blocks feed a side adapter (a 240-wide,
# 8-block ViT on the full-resolution image with 100 queries) that proposes masks and an attention bias; CLIP's last
# 3 blocks rerun with 100 [SLS] tokens under that bias to classify each mask against the vocabulary's text
# embeddings (ViLD's 14 templates) and a learned background embedding. Images are normalised with CLIP's mean/std
# (the official values, unrounded) and padded by 0 after normalisation to a multiple of 32 at test time.
data_preprocessor = dict(
    type='SegDataPreProcessor',
    mean=[122.7709383, 116.7460125, 104.09373615],
    std=[68.5005327, 66.6321579, 70.32316305],
    bgr_to_rgb=True,
    pad_val=0,
    seg_pad_val=255,
    size_divisor=640,
    test_cfg=dict(size_divisor=32))
model = dict(
    type='SAN',
    data_preprocessor=data_preprocessor,
    clip=dict(name='ViT-B-16', pretrained='openai'),
    templates='vild14',
    backbone=dict(type='SANCLIPViT', split=9, feature_layers=(0, 3, 6, 9), input_scale=0.5),
    decode_head=dict(
        type='SANHead',
        embed_dim=512,
        deep_supervision_idxs=[7],
        no_object_weight=0.1,
        san_cfg=dict(
            in_channels=3,
            clip_channels=768,
            embed_dims=240,
            patch_size=16,
            patch_bias=True,
            num_queries=100,
            cfg_encoder=dict(num_encode_layer=8, num_heads=6, mlp_ratio=4),
            fusion_index=[0, 1, 2, 3],
            cfg_decoder=dict(num_heads=12, num_layers=1, embed_channels=256, mlp_channels=256, num_mlp=3,
                             rescale=True),
            norm_cfg=dict(type='LN', eps=1e-6)),
        align_corners=False,
        ignore_index=255,
        train_cfg=dict(
            num_points=12544,
            oversample_ratio=3.0,
            importance_sample_ratio=0.75,
            assigner=dict(
                type='HungarianAssigner',
                match_costs=[
                    dict(type='ClassificationCost', weight=2.0),
                    dict(type='CrossEntropyLossCost', weight=5.0, use_sigmoid=True),
                    dict(type='DiceCost', weight=5.0, pred_act=True, eps=1.0),
                ])),
        loss_decode=[
            dict(type='CrossEntropyLoss', loss_name='loss_cls_ce', loss_weight=2.0),
            dict(type='CrossEntropyLoss', use_sigmoid=True, loss_name='loss_mask_ce', loss_weight=5.0),
            dict(type='DiceLoss', ignore_index=None, naive_dice=True, eps=1, loss_name='loss_mask_dice',
                 loss_weight=5.0),
        ]),
    train_cfg=dict(),
    # 'original': the official combination of mask logits at the original size; 'padded': mmseg's port's
    test_cfg=dict(mode='whole', mask_combine='original'))
