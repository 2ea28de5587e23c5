# NACLIP (sinahmr/NACLIP, arch='reduced', attn_strategy='naclip'): last block out_proj(softmax(kk^T s + G) v)
# with a Gaussian neighbourhood bias (std 5 patches), no residual/FFN; PAMR (10 steps, dilations 8, 16).
model = dict(
    type='TrainingFreeSegmentor',
    data_preprocessor=dict(type='SegDataPreProcessor', mean=[122.771, 116.746, 104.094],
                           std=[68.501, 66.632, 70.323], bgr_to_rgb=True),
    clip=dict(name='ViT-B-16', pretrained='openai'),
    last_block=dict(type='NACLIPLastBlock', gaussian_std=5.0),
    templates='imagenet80',
    pos_interpolation='offset',
    mode='slide',
    crop_size=224,
    stride=112,
    logit_scale=40.0,
    prob_thd=0.0,
    background_class=None,
    refinement=dict(type='PAMR', steps=10, dilations=(8, 16)),
    renormalize=True,
)
