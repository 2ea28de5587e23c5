# A small C4 RPN for the synthetic world's 128-224 px scenes: a ResNet-18 with 16 base channels up to res4 (stride 16,
# 64 channels), one 3x3 conv of 64 and anchors of 16-256 px (16 x 1..16, ratios 0.5/1/2, detectron2's order: sizes
# outer). Written once because two configs build it: the mmdet RPN that trains it on the base classes
# (configs/regionclip/rpn_r18-tiny-c4_synthetic-world.py) and RegionCLIP's frozen offline_rpn, which loads that
# checkpoint's backbone.* / rpn_head.* tensors strictly; the image normalisation is shared for the same reason.
tiny_c4_rpn = dict(
    backbone=dict(type='mmdet.ResNet', depth=18, base_channels=16, num_stages=3, strides=(1, 2, 2),
                  dilations=(1, 1, 1), out_indices=(2, ), norm_cfg=dict(type='BN', requires_grad=True),
                  norm_eval=False, style='pytorch', init_cfg=None),
    rpn_head=dict(
        type='mmdet.RPNHead',
        in_channels=64,
        feat_channels=64,
        anchor_generator=dict(type='AnchorGenerator', scales=[1, 2, 4, 8, 16], ratios=[0.5, 1.0, 2.0], strides=[16],
                              scale_major=False, center_offset=0.0),
        bbox_coder=dict(type='DeltaXYWHBBoxCoder', target_means=[0.0] * 4, target_stds=[1.0] * 4),
        loss_cls=dict(type='mmdet.CrossEntropyLoss', use_sigmoid=True, loss_weight=1.0),
        loss_bbox=dict(type='mmdet.L1Loss', loss_weight=1.0)),
    # ImageNet's mean/std on 0-255 BGR pixels (as mmdet loads them), zero padding to a multiple of 32
    mean=[103.53, 116.28, 123.675],
    std=[57.375, 57.12, 58.395],
    size_divisor=32)
