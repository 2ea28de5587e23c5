# ZegCLIP, transductive zero-shot on VOC-20: starts from the inductive model at half its schedule (the reference's
# README: iter_10000.pth) and trains 10k iterations on all 20 classes' text, pixels of unseen classes taking the
# best-scoring unseen class of the same forward pass as their label (no threshold); the warm-up restarts. No seen
# penalty at test. Reference: configs/voc12/vpt_seg_zero_vit-b_512x512_10k_12_10_st.py; README figures: mIoU seen
# 92.3 / unseen 89.9, hIoU 91.1 (pAcc 96.2).
#   python tools/train.py configs/zegclip/zegclip_vit-b16_voc12aug-512x512_transductive.py \
#       --cfg-options load_from=work_dirs/zegclip_vit-b16_voc12aug-512x512_inductive/iter_10000.pth
_base_ = ['./zegclip_vit-b16_voc12aug-512x512_inductive.py']
model = dict(
    train_vocabulary=None,
    pseudo_label_classes='{{fileDirname}}/../../clipdense/datasets/vocabularies/zegclip/voc20_unseen.txt',
    seen_penalty=0.0)
load_from = 'work_dirs/zegclip_vit-b16_voc12aug-512x512_inductive/iter_10000.pth'
iterations = 10000
param_scheduler = [
    dict(type='LinearLR', start_factor=1e-6, by_epoch=False, begin=0, end=1500),
    dict(type='PolyLR', eta_min=1e-6, power=0.9, by_epoch=False, begin=0, end=iterations),
]
train_cfg = dict(max_iters=iterations, val_interval=iterations)
default_hooks = dict(checkpoint=dict(interval=1000))
