# ViLD-ensemble with the embedded clipdense-tiny CLIP on the synthetic world: ViLD's config (regions written as it
# says) plus the image branch, a second head of the text head's shape that alone learns the distillation.
_base_ = ['./vild_r18-tiny-fpn_clipdense-tiny_synthetic-world.py']
model = dict(
    roi_head=dict(
        image_bbox_head=dict(
            type='ViLDBBoxHead',
            num_shared_convs=4,
            num_shared_fcs=2,
            in_channels=32,
            conv_out_channels=32,
            fc_out_channels=256,
            roi_feat_size=7,
            norm_cfg=dict(type='BN', requires_grad=True),
            fc_norm_cfg=dict(type='BN1d'),
            with_reg=False,
            cls_predictor_cfg=dict(type='RegionTextClassifier', embed_dim=128, temperature=100.0,
                                   background='none'))))
