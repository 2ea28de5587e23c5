# A CLIP backbone with a text-classifier head (cosine against class-name embeddings): the base of trained
# open-vocabulary segmentors. The CLIP is named at model.clip for every method.
data_preprocessor = dict(
    type='SegDataPreProcessor',
    mean=[122.771, 116.746, 104.094],  # CLIP's mean/std, on 0-255 RGB
    std=[68.501, 66.632, 70.323],
    bgr_to_rgb=True,
    pad_val=0,
    seg_pad_val=255)
model = dict(
    type='CLIPEncoderDecoder',
    data_preprocessor=data_preprocessor,
    clip=dict(name='ViT-B-16', pretrained='openai'),
    templates='imagenet80',
    backbone=dict(type='CLIPVisionBackbone', out_indices=(), frozen=True),
    decode_head=dict(
        type='TextClassifierHead',
        in_channels=512,
        in_index=-1,
        channels=256,
        embed_dim=512,
        num_convs=1,
        dropout_ratio=0.1,
        norm_cfg=dict(type='BN', requires_grad=True),
        align_corners=False,
        loss_decode=dict(type='CrossEntropyLoss', use_sigmoid=False, loss_weight=1.0)),
    train_cfg=dict(),
    test_cfg=dict(mode='slide', crop_size=(224, 224), stride=(112, 112)))
