# MaskCLIP (chongzhou96/MaskCLIP): the last block's attention replaced by the value path (residual and FFN
# kept), raw cosine with the 85-template text embeddings, whole-image inference with bottom/right padding
# squeezed back, ImageNet mean/std. clipdense runs CLIP's real layers (QuickGELU, LayerNorm eps 1e-5); the
# reference's mmseg port uses GELU and eps 1e-6 (see configs/maskclip/README.md).
model = dict(
    type='TrainingFreeSegmentor',
    data_preprocessor=dict(type='SegDataPreProcessor', mean=[123.675, 116.28, 103.53],
                           std=[58.395, 57.12, 57.375], bgr_to_rgb=True),
    clip=dict(name='ViT-B-16', pretrained='openai'),
    last_block=dict(type='MaskCLIPLastBlock'),
    templates='maskclip85',
    pos_interpolation='exact',
    mode='whole',
    window_padding='corner',
    logit_scale=1.0,
    prob_thd=0.0,
    background_class=None,
)
