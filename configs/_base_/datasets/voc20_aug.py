# PASCAL VOC 2012 + SBD ("VOC aug", 10,582 training images), scored on the 20 object classes (VOC-20: labels
# 1..20 become 0..19, background and border ignored). Training concatenates VOC's train list (SegmentationClass)
# and aug.txt (SegmentationClassAug: SBD minus VOC train/val), as mmseg's voc_aug converter writes them.
# Layout and download: docs/datasets.md.
_base_ = ['./voc20.py']
dataset_type = 'PascalVOC20Dataset'
data_root = 'data/VOCdevkit/VOC2012'
train_pipeline = {{_base_.train_pipeline}}
voc_train = dict(type=dataset_type, data_root=data_root,
                 data_prefix=dict(img_path='JPEGImages', seg_map_path='SegmentationClass'),
                 ann_file='ImageSets/Segmentation/train.txt', pipeline=train_pipeline)
sbd_train = dict(type=dataset_type, data_root=data_root,
                 data_prefix=dict(img_path='JPEGImages', seg_map_path='SegmentationClassAug'),
                 ann_file='ImageSets/Segmentation/aug.txt', pipeline=train_pipeline)
train_dataloader = dict(dataset=dict(_delete_=True, type='ConcatDataset', datasets=[voc_train, sbd_train]))
