# ZegCLIP cross-dataset: the COCO-Stuff-164k inductive model evaluated on ADE20K-150 without training (as
# configs/zegclip/zegclip_vit-b16_coco-stuff164k-512x512_cross-voc20.py). The reference ships none (the
# maintainers explain in its issue #8 how to write one); mmseg's ADE20K-150 class names, the 15 templates.
_base_ = ['./zegclip_vit-b16_coco-stuff164k-512x512_cross-voc20.py']
model = dict(vocabulary='{{fileDirname}}/../../clipdense/datasets/vocabularies/zegclip/ade20k.txt', templates='zegclip15')
val_dataloader = dict(
    dataset=dict(type='ADE20KDataset', data_root='data/ade/ADEChallengeData2016', ann_file='',
                 data_prefix=dict(img_path='images/validation', seg_map_path='annotations/validation')))
test_dataloader = val_dataloader
