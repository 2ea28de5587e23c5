# FC-CLIP ConvNeXt-L trained on COCO panoptic's 133 classes, the official recipe (bytedance/fc-clip
# configs/coco/panoptic-segmentation/fcclip/fcclip_convnext_large_eval_ade20k.yaml and its bases): large-scale
# jitter (flip, resize to 0.1-2.0 of 1024, 1024 crop padded with pixel 128), 368,750 iterations at global batch 16
# (8 GPUs x 2: tools/train.py with torchrun --nproc-per-node 8; add --amp as the reference). Panoptic and instance
# output as the reference infers them (pred_panoptic_seg and pred_instances of COCO's 80 thing classes: object-mask
# threshold 0.0, overlap 0.8, 100 instances per image). Evaluated on COCO panoptic val: mIoU of the segments'
# semantic maps, PQ of the panoptic output (PanopticQualityMetric: panopticapi's scoring, which mmdet's metric
# needs and PyPI lacks) and mask AP of the instance output (mmdet's CocoMetric on instances_val2017.json).
# Reference (README): PQ 54.4, mask AP 44.6, mIoU 63.7 on COCO. One mask per non-crowd segment of the panoptic
# annotations is supervised, as the reference. The other configs of this folder evaluate the same model on other
# vocabularies without training. Validation: every 5000 iterations on COCO val here; the reference's training config
# validates on ADE20K panoptic val instead (DATASETS.TEST, EVAL_PERIOD 5000) and its release was picked by ADE PQ
# (issue #13). To pick a checkpoint the same way, score the saved ones (one per 5000 iterations) with
# fcclip_convnext-l_coco-panoptic_ade150.py.
_base_ = [
    '../_base_/models/fcclip_convnext-l.py', '../_base_/datasets/coco_panoptic.py',
    '../_base_/default_runtime.py', '../_base_/schedules/fcclip_368k.py'
]
model = dict(
    vocabulary='{{fileDirname}}/../../clipdense/datasets/vocabularies/fcclip/coco_panoptic133.txt',
    test_cfg=dict(
        thing_classes='{{fileDirname}}/../../clipdense/datasets/vocabularies/fcclip/coco_panoptic133_things.txt',
        panoptic=dict(object_mask_threshold=0.0, overlap_threshold=0.8),
        instance=dict(max_per_image=100)))
val_evaluator = [
    # mIoU over the classes in the ground truth, as the reference's detectron2 SemSegEvaluator
    dict(type='OpenVocabIoUMetric', ground_truth_classes_only=True),
    dict(type='PanopticQualityMetric'),  # the dataset's 80 things
    dict(type='mmdet.CocoMetric', ann_file='data/coco/annotations/instances_val2017.json', metric='segm'),
]
test_evaluator = val_evaluator
