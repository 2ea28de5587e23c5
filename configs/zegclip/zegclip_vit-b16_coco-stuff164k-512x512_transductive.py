# ZegCLIP, transductive zero-shot on COCO-Stuff-164k: from the inductive model at half its schedule (README:
# iter_40000.pth), 40k iterations on all 171 classes, unseen pixels pseudo-labelled by the best unseen class; no seen
# penalty at test. Reference: configs/coco/vpt_seg_zero_vit-b_512x512_40k_12_100_multi_st.py; README figures: mIoU
# seen 40.7 / unseen 59.9, hIoU 48.5 (pAcc 69.2).
_base_ = ['./zegclip_vit-b16_coco-stuff164k-512x512_inductive.py']
model = dict(
    train_vocabulary=None,
    pseudo_label_classes='{{fileDirname}}/../../clipdense/datasets/vocabularies/zegclip/coco_stuff171_unseen.txt',
    seen_penalty=0.0)
load_from = 'work_dirs/zegclip_vit-b16_coco-stuff164k-512x512_inductive/iter_40000.pth'
iterations = 40000
param_scheduler = [
    dict(type='LinearLR', start_factor=1e-6, by_epoch=False, begin=0, end=1500),
    dict(type='PolyLR', eta_min=1e-6, power=0.9, by_epoch=False, begin=0, end=iterations),
]
train_cfg = dict(max_iters=iterations, val_interval=iterations)
default_hooks = dict(checkpoint=dict(interval=4000))
