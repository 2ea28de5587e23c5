# ViLD-ensemble with a ResNet-152 on OV-LVIS: the R50 recipe (vild-ensemble_r50_fpn_lsj-180k_ov-lvis.py) with the
# reference's R152 ensemble distillation weight 2.0 (tensorflow/tpu projects/vild README).
# Released checkpoint: tools/model_converters/vild2clipdense.py converts it, with its class embeddings.
# Reference: ViLD-ensemble R152 19.2 APr / 24.8 APc / 30.8 APf / 26.2 AP (README, released checkpoint).
_base_ = ['./vild-ensemble_r50_fpn_lsj-180k_ov-lvis.py']
model = dict(backbone=dict(depth=152), roi_head=dict(distillation_weight=2.0))
