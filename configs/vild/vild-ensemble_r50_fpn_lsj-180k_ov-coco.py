# ViLD-ensemble on OV-COCO: a second head (the image branch) learns the distillation alone and the text head the
# classification; at test time both score the proposals against the same text embeddings, combined by the geometric
# ensemble (p_text^2/3 p_img^1/3 on base classes, p_text^1/3 p_img^2/3 on novel ones; ViLDRoIHead). Region embeddings as
# for ViLD (vild_r50_fpn_lsj-180k_ov-coco.py).
_base_ = ['./vild_r50_fpn_lsj-180k_ov-coco.py']
model = dict(roi_head=dict(image_bbox_head={{_base_.image_bbox_head}}))
