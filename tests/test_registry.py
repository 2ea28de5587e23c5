from mmdet.models.task_modules import MaxIoUAssigner
from mmseg.models.backbones import ResNet as SegResNet

from clipdense.registry import MODELS, TASK_UTILS, TRANSFORMS, register_all_modules


def test_clipdense_then_mmseg_then_mmdet():
    register_all_modules()
    assert MODELS.get('TrainingFreeSegmentor').__module__.startswith('clipdense.')
    assert MODELS.get('ResNet') is SegResNet  # a name both define: mmseg's when unscoped
    assert MODELS.get('mmdet.ResNet').__module__.startswith('mmdet.')
    assert TASK_UTILS.get('MaxIoUAssigner') is MaxIoUAssigner  # only mmdet has it
    assert MODELS.get('RPNHead').__module__.startswith('mmdet.')
    assert TRANSFORMS.get('PackSegInputs').__module__.startswith('mmseg.')
    assert TRANSFORMS.get('mmdet.PackDetInputs').__module__.startswith('mmdet.')
    assert MODELS.get('NoSuchModule') is None


def test_mmdet_modules_build_their_parts_under_the_clipdense_scope():
    register_all_modules()
    head = MODELS.build(dict(
        type='RPNHead', in_channels=8, feat_channels=8,
        anchor_generator=dict(type='AnchorGenerator', scales=[8], ratios=[1.0], strides=[4]),
        bbox_coder=dict(type='DeltaXYWHBBoxCoder', target_means=[0.0] * 4, target_stds=[1.0] * 4)))
    assert type(head.prior_generator).__name__ == 'AnchorGenerator'
