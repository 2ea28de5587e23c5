# FC-CLIP ConvNeXt-L trained on COCO panoptic (fcclip_convnext-l_coco-panoptic-1024x1024.py), evaluated on
# ADE20K-150 without training, with FC-CLIP's ADE-150 synonyms (64 of the 150 classes share a name with COCO's and
# count as seen in the ensemble). Whole image at short side 800 (long side at most 1333); the reference infers
# panoptic and instance output on ADE too, so masks are resized to the original image before combining
# ('original'), and so does this config (pred_panoptic_seg and pred_instances of FC-CLIP's 100 ADE thing classes:
# object-mask threshold 0.0, overlap 0.8, 100 instances per image). Scored: mIoU on the semantic maps, PQ on the
# panoptic annotation (ADE20KPanopticDataset: the json and PNGs of Mask2Former's prepare_ade20k_pan_seg.py) and
# mask AP on the instance annotation (ClassIndexCocoMetric: prepare_ade20k_ins_seg.py's json); docs/datasets.md.
# Reference (README, test log): mIoU 34.1 (34.0658), PQ 26.8, mask AP 16.8. The released checkpoint was selected by
# ADE20K PQ (maintainer, fc-clip issue #13), so its ADE figures are not clean zero-shot. Test only:
#   python tools/test.py configs/fcclip/fcclip_convnext-l_coco-panoptic_ade150.py CHECKPOINT
_base_ = [
    '../_base_/models/fcclip_convnext-l.py', '../_base_/datasets/ade20k.py', '../_base_/default_runtime.py',
    '../_base_/schedules/inference_only.py'
]
model = dict(vocabulary='{{fileDirname}}/../../clipdense/datasets/vocabularies/fcclip/ade150.txt',
             test_cfg=dict(
                 mask_combine='original',
                 thing_classes='{{fileDirname}}/../../clipdense/datasets/vocabularies/fcclip/ade150_things.txt',
                 panoptic=dict(object_mask_threshold=0.0, overlap_threshold=0.8),
                 instance=dict(max_per_image=100)))
test_pipeline = [
    dict(type='LoadImageFromFile'),
    dict(type='Detectron2ResizeShortestEdge', scale=800, max_size=1333),
    dict(type='LoadAnnotations', reduce_zero_label=True),
    dict(type='PackSegInputs',
         meta_keys=('img_path', 'seg_map_path', 'pan_seg_map_path', 'segments_info', 'ori_shape', 'img_shape',
                    'pad_shape', 'scale_factor', 'flip', 'flip_direction', 'reduce_zero_label', 'img_id')),
]
val_dataloader = dict(dataset=dict(
    _delete_=True, type='ADE20KPanopticDataset', data_root='data/ade/ADEChallengeData2016',
    ann_file='ade20k_panoptic_val.json',
    data_prefix=dict(img_path='images/validation', seg_map_path='annotations/validation',
                     pan_seg_map_path='ade20k_panoptic_val'),
    pipeline=test_pipeline))
test_dataloader = val_dataloader
val_evaluator = [
    # mIoU over the classes in the ground truth, as the reference's detectron2 SemSegEvaluator
    dict(type='OpenVocabIoUMetric', ground_truth_classes_only=True),
    dict(type='PanopticQualityMetric'),  # the json's 100 things
    dict(type='ClassIndexCocoMetric', ann_file='data/ade/ADEChallengeData2016/ade20k_instance_val.json', metric='segm'),
]
test_evaluator = val_evaluator
train_dataloader = None
