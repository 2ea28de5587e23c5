# ZegCLIP cross-dataset: the COCO-Stuff-164k inductive model evaluated on PASCAL Context-59 without training (as
# configs/zegclip/zegclip_vit-b16_coco-stuff164k-512x512_cross-voc20.py). The reference's
# configs/cross_dataset/coco-to-context.py cannot run (its dataset config and text embeddings are missing) and
# scores 60 classes with background; this one scores the 59 classes with the 15 templates.
_base_ = ['./zegclip_vit-b16_coco-stuff164k-512x512_cross-voc20.py']
model = dict(vocabulary='{{fileDirname}}/../../clipdense/datasets/vocabularies/zegclip/context59.txt', templates='zegclip15')
val_dataloader = dict(
    dataset=dict(type='PascalContextDataset59', data_root='data/VOCdevkit/VOC2010',
                 data_prefix=dict(img_path='JPEGImages', seg_map_path='SegmentationClassContext'),
                 ann_file='ImageSets/SegmentationContext/val.txt'))
test_dataloader = val_dataloader
