# FC-CLIP (bytedance/fc-clip): a frozen open_clip ConvNeXt-L (convnext_large_d_320, laion2b_s29b_b131k_ft_soup)
# whose four stages feed a Mask2Former (mmdet's: deformable pixel decoder on the three coarsest stages, 9
# masked-attention layers, 250 queries); each query is classified against the vocabulary's text embeddings (ViLD's
# 14 templates per synonym, best synonym per class) through mask-pooled pixel features and, at test time, again
# by CLIP itself from its mask-pooled last stage; the two are ensembled geometrically. CLIP's mean/std; test images
# padded by 0 after normalisation to a multiple of 32.
data_preprocessor = dict(
    type='SegDataPreProcessor',
    mean=[122.7709383, 116.7460125, 104.09373615],
    std=[68.5005327, 66.6321579, 70.32316305],
    bgr_to_rgb=True,
    pad_val=0,
    seg_pad_val=255,
    size=(1024, 1024),
    test_cfg=dict(size_divisor=32))
model = dict(
    type='FCCLIP',
    data_preprocessor=data_preprocessor,
    clip=dict(name='convnext_large_d_320', pretrained='laion2b_s29b_b131k_ft_soup'),
    templates='vild14',
    train_vocabulary='clipdense/datasets/vocabularies/fcclip/coco_panoptic133.txt',
    backbone=dict(type='FrozenCLIPConvNeXt'),
    decode_head=dict(
        type='FCCLIPHead',
        in_channels=[192, 384, 768, 1536],
        strides=[4, 8, 16, 32],
        feat_channels=256,
        out_channels=256,
        embed_dim=768,
        alpha=0.4,
        beta=0.8,
        num_queries=250,
        num_transformer_feat_level=3,
        align_corners=False,
        pixel_decoder=dict(
            type='FP32MSDeformAttnPixelDecoder',
            num_outs=3,
            norm_cfg=dict(type='GN', num_groups=32),
            act_cfg=dict(type='ReLU'),
            encoder=dict(
                num_layers=6,
                layer_cfg=dict(
                    self_attn_cfg=dict(embed_dims=256, num_heads=8, num_levels=3, num_points=4, im2col_step=64,
                                       dropout=0.0, batch_first=True, norm_cfg=None, init_cfg=None),
                    ffn_cfg=dict(embed_dims=256, feedforward_channels=1024, num_fcs=2, ffn_drop=0.0,
                                 act_cfg=dict(type='ReLU', inplace=True))),
                init_cfg=None),
            positional_encoding=dict(num_feats=128, normalize=True),
            init_cfg=None),
        enforce_decoder_input_project=False,
        positional_encoding=dict(num_feats=128, normalize=True),
        transformer_decoder=dict(
            return_intermediate=True,
            num_layers=9,
            layer_cfg=dict(
                self_attn_cfg=dict(embed_dims=256, num_heads=8, attn_drop=0.0, proj_drop=0.0, dropout_layer=None,
                                   batch_first=True),
                cross_attn_cfg=dict(embed_dims=256, num_heads=8, attn_drop=0.0, proj_drop=0.0, dropout_layer=None,
                                    batch_first=True),
                ffn_cfg=dict(embed_dims=256, feedforward_channels=2048, num_fcs=2,
                             act_cfg=dict(type='ReLU', inplace=True), ffn_drop=0.0, dropout_layer=None,
                             add_identity=True)),
            init_cfg=None),
        no_object_weight=0.1,
        loss_cls=dict(type='mmdet.CrossEntropyLoss', use_sigmoid=False, loss_weight=2.0, reduction='mean'),
        loss_mask=dict(type='mmdet.CrossEntropyLoss', use_sigmoid=True, reduction='mean', loss_weight=5.0),
        loss_dice=dict(type='mmdet.DiceLoss', use_sigmoid=True, activate=True, reduction='mean', naive_dice=True,
                       eps=1.0, loss_weight=5.0),
        train_cfg=dict(
            num_points=12544,
            oversample_ratio=3.0,
            importance_sample_ratio=0.75,
            assigner=dict(
                type='mmdet.HungarianAssigner',
                match_costs=[
                    dict(type='mmdet.ClassificationCost', weight=2.0),
                    dict(type='mmdet.CrossEntropyLossCost', weight=5.0, use_sigmoid=True),
                    dict(type='mmdet.DiceCost', weight=5.0, pred_act=True, eps=1.0),
                ]),
            sampler=dict(type='mmdet.MaskPseudoSampler'))),
    train_cfg=dict(),
    # 'original': masks resized to the original image before combining (the reference where it also infers
    # panoptic output); 'padded': combined at the padded input (the reference's semantic-only evaluations)
    test_cfg=dict(mode='whole', mask_combine='original'))
