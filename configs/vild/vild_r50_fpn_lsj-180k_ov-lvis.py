# ViLD (text + image distillation, weight 0.5 as for the reference's R50 models) on OV-LVIS: ViLD-text plus an L1 loss
# between the head's region embeddings and CLIP's embeddings of up to 300 precomputed regions per image. Write them
# first with the RPN of a ViLD-text model trained on the base categories:
#   python tools/vild_region_embeddings.py configs/vild/vild-text_r50_fpn_lsj-180k_ov-lvis.py TEXT.pth \
#       --out data/lvis_v1/vild_regions/train
# (CLIP ViT-B/32, 1x and 1.5x crops ensembled; the reference never released this step).
# Reference: ViLD R50 16.6 APr / 19.8 APc / 28.2 APf / 22.5 AP (tensorflow/tpu projects/vild README, released
# checkpoint).
_base_ = ['./vild-text_r50_fpn_lsj-180k_ov-lvis.py']
model = dict(roi_head=dict(distillation_weight=0.5))
train_pipeline = [
    dict(type='LoadImageFromFile'),
    dict(type='mmdet.LoadAnnotations', with_bbox=True, with_mask=True),
    dict(type='LoadRegionEmbeddings', embeddings_dir='data/lvis_v1/vild_regions/train', max_regions=300),
    dict(type='RandomResize', scale=(1024, 1024), ratio_range=(0.1, 2.0), keep_ratio=True,
         resize_type='mmdet.Resize'),
    dict(type='mmdet.RandomCrop', crop_type='absolute_range', crop_size=(1024, 1024), recompute_bbox=True,
         allow_negative_crop=True),
    dict(type='mmdet.FilterAnnotations', min_gt_bbox_wh=(1e-2, 1e-2)),
    dict(type='mmdet.RandomFlip', prob=0.5),
    dict(type='mmdet.PackDetInputs',
         meta_keys=('img_id', 'img_path', 'ori_shape', 'img_shape', 'scale_factor', 'flip', 'flip_direction',
                    'homography_matrix', 'region_boxes', 'region_embeddings')),
]
train_dataloader = dict(dataset=dict(pipeline=train_pipeline))
