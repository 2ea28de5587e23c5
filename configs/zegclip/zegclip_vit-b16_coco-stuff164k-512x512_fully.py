# ZegCLIP, fully supervised on COCO-Stuff-164k (all 171 classes in training). Reference:
# configs/coco/vpt_seg_fully_vit-b_512x512_80k_12_100_multi.py (0.1 subtracted from every class at test); README
# figures: mIoU "seen" 40.7 / "unseen" 63.2, hIoU 49.6.
_base_ = ['./zegclip_vit-b16_coco-stuff164k-512x512_inductive.py']
model = dict(train_vocabulary=None, penalize='all')
