# ClearCLIP (mc-lan/ClearCLIP, model_type='ClearCLIP', ignore_residual=True): the last block is
# out_proj(softmax(qq^T) v) alone. 448/224 windows zero-padded (centred) to a multiple of the patch,
# logit scale 50. Its shipped base config runs 'vanilla' instead (issues #3/#12); this one runs ClearCLIP.
model = dict(
    type='TrainingFreeSegmentor',
    data_preprocessor=dict(type='SegDataPreProcessor', mean=[122.771, 116.746, 104.094],
                           std=[68.501, 66.632, 70.323], bgr_to_rgb=True),
    clip=dict(name='ViT-B-16', pretrained='openai'),
    last_block=dict(type='ClearCLIPLastBlock'),
    templates='imagenet80',
    pos_interpolation='offset',
    mode='slide',
    crop_size=448,
    stride=224,
    window_padding='center',
    logit_scale=50.0,
    prob_thd=0.0,
    background_class=None,
)
