# ViLD (text + distillation of CLIP region embeddings, weight 0.5) with the embedded clipdense-tiny CLIP on the
# synthetic world: ViLD-text's config plus up to 100 regions per scene, written by
#   python tools/vild_region_embeddings.py configs/vild/vild-text_r18-tiny-fpn_clipdense-tiny_synthetic-world.py \
#       TEXT.pth --out data/synthetic_world/vild_regions/train --max-regions 100
# from the RPN of the ViLD-text model (trained on the base classes) and the embedded CLIP (1x and 1.5x crops).
_base_ = ['./vild-text_r18-tiny-fpn_clipdense-tiny_synthetic-world.py']
model = dict(roi_head=dict(distillation_weight=0.5))
train_pipeline = [
    dict(type='LoadImageFromFile'),
    dict(type='mmdet.LoadAnnotations', with_bbox=True, with_mask=True),
    dict(type='LoadRegionEmbeddings', embeddings_dir='data/synthetic_world/vild_regions/train', max_regions=100),
    dict(type='RandomResize', scale=(224, 224), ratio_range=(0.75, 1.25), keep_ratio=True, resize_type='mmdet.Resize'),
    dict(type='mmdet.RandomFlip', prob=0.5),
    dict(type='mmdet.PackDetInputs',
         meta_keys=('img_id', 'img_path', 'ori_shape', 'img_shape', 'scale_factor', 'flip', 'flip_direction',
                    'homography_matrix', 'region_boxes', 'region_embeddings')),
]
train_dataloader = dict(dataset=dict(pipeline=train_pipeline))
