# SCLIP (wangf3014/SCLIP): correlative self-attention (softmax(qq^T)+softmax(kk^T)) in the last block,
# residual and FFN kept. CLIP mean/std with BGR->RGB, sliding 224/112 windows, logit scale 40.
model = dict(
    type='TrainingFreeSegmentor',
    data_preprocessor=dict(type='SegDataPreProcessor', mean=[122.771, 116.746, 104.094],
                           std=[68.501, 66.632, 70.323], bgr_to_rgb=True),
    clip=dict(name='ViT-B-16', pretrained='openai'),
    last_block=dict(type='SCLIPLastBlock'),
    templates='imagenet80',
    pos_interpolation='offset',
    mode='slide',
    crop_size=224,
    stride=112,
    logit_scale=40.0,
    prob_thd=0.0,
    background_class=None,
)
