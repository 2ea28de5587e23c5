# ZegCLIP (ZiqinZhou66/ZegCLIP, commit 9ba4bb5): a frozen CLIP ViT-B/16 at 512 with deep visual prompts, the
# relationship descriptor and a 3-layer cross-attention decoder whose attention scores are the masks. Images are
# normalised with ImageNet's mean/std (as the reference does, not CLIP's); crops are padded to 512 (labels 255).
data_preprocessor = dict(
    type='SegDataPreProcessor',
    mean=[123.675, 116.28, 103.53],
    std=[58.395, 57.12, 57.375],
    bgr_to_rgb=True,
    pad_val=0,
    seg_pad_val=255,
    size=(512, 512))
model = dict(
    type='ZegCLIP',
    data_preprocessor=data_preprocessor,
    clip=dict(name='ViT-B-16', pretrained='openai'),
    templates='zegclip_single',
    backbone=dict(type='DeepPromptCLIPViT', num_prompts=10, prompt_dropout=0.1, input_size=512,
                  pos_interpolation='bilinear', doubled_class_token=True),
    decode_head=dict(
        type='ZegCLIPHead',
        embed_dim=512,
        num_layers=3,
        num_heads=8,
        ffn_dim=2048,
        dropout=0.1,
        align_corners=False,
        ignore_index=255,
        loss_decode=[
            dict(type='MaskFocalLoss', alpha=0.25, gamma=2.0, loss_weight=100.0),
            dict(type='MaskDiceLoss', loss_weight=1.0),
        ]),
    seen_penalty=0.1,
    penalize='seen',
    train_cfg=dict(),
    test_cfg=dict(mode='slide', crop_size=(512, 512), stride=(426, 426), windows_per_batch=4))
# The last decoder layer's value path and FFN never reach an output (as in the reference): DDP must not wait for
# their gradients.
model_wrapper_cfg = dict(type='MMDistributedDataParallel', find_unused_parameters=True)
