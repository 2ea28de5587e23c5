# ViLD with a ResNet-152 on OV-LVIS: the R50 recipe (vild_r50_fpn_lsj-180k_ov-lvis.py) with the reference's R152
# distillation weight 1.0 (tensorflow/tpu projects/vild README: the R152 models override resnet_depth).
# Released checkpoint: tools/model_converters/vild2clipdense.py converts it, with its class embeddings.
# Reference: ViLD R152 19.6 APr / 21.6 APc / 28.5 APf / 24.0 AP (README, released checkpoint).
_base_ = ['./vild_r50_fpn_lsj-180k_ov-lvis.py']
model = dict(backbone=dict(depth=152), roi_head=dict(distillation_weight=1.0))
