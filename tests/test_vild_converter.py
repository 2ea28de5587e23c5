"""tools/model_converters/vild2clipdense.py on TF checkpoints with the reference's variable names and shapes
(tests/data/vild*_r{50,152}_tf_variables.txt: the variables of the ViLD graphs that tensorflow/tpu's own code built,
vild_resnet.yaml), written by tests/tf_bundle.py with random values."""
import os

import numpy as np
import pytest
import torch
import torch.nn.functional as F
from mmengine.config import Config
from tf_bundle import write_tf_checkpoint
from tool_runs import ROOT, load_tool

from clipdense.engine.convert import ConversionError

DATA = os.path.join(os.path.dirname(__file__), 'data')
EMBED_DIM = 32  # the tiny CLIP's; the reference's 512 where the projection meets CLIP


def load_converter():
    return load_tool('tools/model_converters/vild2clipdense.py')


def official_variables(model='vild', depth=50):
    variables = {}
    for line in open(os.path.join(DATA, f'{model}_r{depth}_tf_variables.txt')):
        name, shape, _ = line.rstrip('\n').split('\t')
        shape = tuple(int(size) for size in shape.split(',') if size)
        if 'project-to-clip' in name or 'class-predict' in name:
            shape = tuple(EMBED_DIM if size == 512 else size for size in shape)
        variables[name] = shape
    return variables


@pytest.fixture(scope='module')
def converted(tmp_path_factory):
    convert = load_converter().convert
    rng = np.random.default_rng(0)
    tensors = {name: rng.standard_normal(shape).astype(np.float32) for name, shape in official_variables().items()}
    for name in tensors:
        if name.endswith('moving_variance'):
            tensors[name] = np.abs(tensors[name]) + 0.5
    tensors['global_step'] = np.array(180000, np.int64)
    tensors['fpn/l2/kernel/Momentum'] = tensors['fpn/l2/kernel']
    folder = tmp_path_factory.mktemp('vild_tf')
    write_tf_checkpoint(str(folder / 'model.ckpt-180000'), tensors)
    return tensors, convert(str(folder), str(folder / 'vild.pth'))


def build_detector(config, **overrides):
    from clipdense.registry import MODELS, register_all_modules
    register_all_modules()
    model = Config.fromfile(os.path.join(ROOT, 'configs/vild', config)).model
    model.update(overrides)
    model.clip = dict(name='test-tiny-vit', pretrained=None)
    model.templates, model.text_cache_dir = ['{}'], None
    model.roi_head.bbox_head.cls_predictor_cfg.embed_dim = EMBED_DIM
    if 'image_bbox_head' in model.roi_head:
        model.roi_head.image_bbox_head.cls_predictor_cfg.embed_dim = EMBED_DIM
    return MODELS.build(model)


@pytest.fixture(scope='module')
def detector():
    return build_detector('vild-text_r50_fpn_lsj-180k_ov-coco.py')


def test_every_official_variable_lands_in_the_model(converted, detector):
    _, state_dict = converted
    detector.load_state_dict(state_dict, strict=True)  # every key of the detector, none left over
    own = detector.state_dict()
    assert all(torch.equal(own[key], value) for key, value in state_dict.items())


def test_layouts_compute_what_the_reference_computes(converted):
    tensors, state_dict = converted
    tf = {name: torch.from_numpy(value) for name, value in tensors.items()}
    # A convolution: NHWC with an HWIO kernel.
    x = torch.randn(1, 5, 6, 256)
    lateral = state_dict['neck.lateral_convs.0.weight']
    expected = torch.einsum('nhwi,io->nohw', x, tf['fpn/l2/kernel'][0, 0]) + tf['fpn/l2/bias'][None, :, None, None]
    assert torch.allclose(F.conv2d(x.permute(0, 3, 1, 2), lateral, state_dict['neck.lateral_convs.0.bias']),
                          expected, atol=1e-3)
    # fc6 reads the crop flattened channels-last.
    crop = torch.randn(3, 7, 7, 256)
    expected = crop.reshape(3, -1) @ tf['frcnn_layer_0/fast_rcnn_head/fc6/kernel']
    ours = crop.permute(0, 3, 1, 2).reshape(3, -1) @ state_dict['roi_head.bbox_head.shared_fcs.0.weight'].t()
    assert torch.allclose(ours, expected, atol=1e-2)
    # RPN deltas: TF channel a * 4 + (dy, dx, dh, dw), mmdet's a * 4 + (dx, dy, dw, dh).
    feature = torch.randn(1, 256, 4, 4)
    tf_box = F.conv2d(feature, tf['rpn_head/rpn-box/kernel'].permute(3, 2, 0, 1), tf['rpn_head/rpn-box/bias'])
    ours = F.conv2d(feature, state_dict['rpn_head.rpn_reg.weight'], state_dict['rpn_head.rpn_reg.bias'])
    for anchor in range(3):
        dy, dx, dh, dw = tf_box[:, 4 * anchor:4 * anchor + 4].unbind(1)
        assert torch.allclose(ours[:, 4 * anchor:4 * anchor + 4], torch.stack([dx, dy, dw, dh], 1), atol=1e-4)
    head = 'frcnn_layer_0/fast_rcnn_head/'
    region = torch.randn(2, 1024)
    dy, dx, dh, dw = (region @ tf[head + 'box-predict/kernel'] + tf[head + 'box-predict/bias']).unbind(1)
    ours = region @ state_dict['roi_head.bbox_head.fc_reg.weight'].t() + state_dict['roi_head.bbox_head.fc_reg.bias']
    assert torch.allclose(ours, torch.stack([dx, dy, dw, dh], 1), atol=1e-4)
    assert torch.equal(state_dict['roi_head.bbox_head.fc_cls.background_embedding'],
                       tf[head + 'background-class-predict/kernel'][:, 0])


def test_conv_biases_fold_into_the_batch_norms(converted):
    """BN(conv(x) + b) of the reference = BN'(conv(x)) with the running mean lowered by b, in inference."""
    tensors, state_dict = converted
    tf = {name: torch.from_numpy(value) for name, value in tensors.items()}
    for scope, norm_scope, module in (
            ('frcnn_layer_0/fast_rcnn_head/conv_2', 'frcnn_layer_0/fast_rcnn_head/batch_normalization_2',
             'roi_head.bbox_head.shared_convs.2'),
            ('mask_head/mask-conv-l0', 'mask_head/batch_normalization', 'roi_head.mask_head.convs.0')):
        x = torch.randn(1, 256, 7, 7)
        kernel = tf[scope + '/kernel'].permute(3, 2, 0, 1)
        expected = F.batch_norm(F.conv2d(x, kernel, tf[scope + '/bias'], padding=1), tf[norm_scope + '/moving_mean'],
                                tf[norm_scope + '/moving_variance'], tf[norm_scope + '/gamma'],
                                tf[norm_scope + '/beta'], eps=1e-4)
        ours = F.batch_norm(F.conv2d(x, state_dict[module + '.conv.weight'], padding=1),
                            state_dict[module + '.bn.running_mean'], state_dict[module + '.bn.running_var'],
                            state_dict[module + '.bn.weight'], state_dict[module + '.bn.bias'], eps=1e-4)
        assert module + '.conv.bias' not in state_dict
        assert torch.allclose(ours, expected, atol=1e-2, rtol=1e-4)


def test_ensemble_checkpoint_fills_the_image_branch(tmp_path):
    rng = np.random.default_rng(1)
    tensors = {name: rng.standard_normal(shape).astype(np.float32)
               for name, shape in official_variables('vild-ensemble').items()}
    write_tf_checkpoint(str(tmp_path / 'model.ckpt'), tensors)
    state_dict = load_converter().convert(str(tmp_path), str(tmp_path / 'vild.pth'))
    build_detector('vild-ensemble_r50_fpn_lsj-180k_ov-coco.py').load_state_dict(state_dict, strict=True)
    head = 'frcnn_layer_0/fast_rcnn_head/'
    pairs = {'distill-project-to-clip/bias': 'roi_head.image_bbox_head.fc_cls.projection.bias',
             'distill_fc7/bias': 'roi_head.image_bbox_head.shared_fcs.1.bias',
             'batch_normalization_11/gamma': 'roi_head.image_bbox_head.shared_fc_norms.1.weight',
             'batch_normalization_6/moving_variance': 'roi_head.image_bbox_head.shared_convs.0.bn.running_var',
             'batch_normalization_5/beta': 'roi_head.bbox_head.shared_fc_norms.1.bias'}
    for name, key in pairs.items():
        assert torch.equal(state_dict[key], torch.from_numpy(tensors[head + name])), name


def test_other_checkpoints_are_named_errors(tmp_path):
    convert = load_converter().convert
    variables = official_variables()
    tensors = {name: np.zeros(shape, np.float32) for name, shape in variables.items()}
    write_tf_checkpoint(str(tmp_path / 'extra'), dict(tensors, **{'resnet50/conv2d_53/kernel': np.zeros((1, 1, 2, 2),
                                                                                                       np.float32)}))
    with pytest.raises(ConversionError, match="unexpected variable 'resnet50/conv2d_53/kernel'.*ViLD-ensemble R50"):
        convert(str(tmp_path / 'extra'), str(tmp_path / 'out.pth'))
    write_tf_checkpoint(str(tmp_path / 'half_ensemble'), dict(tensors, **{
        'frcnn_layer_0/fast_rcnn_head/distill_fc6/kernel': np.zeros((2, 2), np.float32)}))
    with pytest.raises(ConversionError, match="has no .*missing.*ViLD-ensemble"):
        convert(str(tmp_path / 'half_ensemble'), str(tmp_path / 'out.pth'))
    del tensors['fpn/p6/bias']
    write_tf_checkpoint(str(tmp_path / 'partial'), tensors)
    with pytest.raises(ConversionError, match="has no 'fpn/p6/bias'"):
        convert(str(tmp_path / 'partial'), str(tmp_path / 'out.pth'))
    with pytest.raises(ConversionError, match='no TensorFlow checkpoint at'):
        convert(str(tmp_path / 'nothing'), str(tmp_path / 'out.pth'))


def test_released_class_embeddings_classify_the_vocabulary(converted, tmp_path):
    """The checkpoint's class-predict kernel (LVIS's 1203 text embeddings) is written beside it; with
    model.class_embeddings the OV-LVIS detector classifies the vocabulary and its base subset with those rows (the
    released model's classifier), and a vocabulary outside it is encoded by CLIP."""
    from clipdense.models.clip import ClassEmbeddingsFileError
    tensors, _ = converted
    path = str(tmp_path / 'released.pth')
    kernel = torch.from_numpy(tensors['frcnn_layer_0/fast_rcnn_head/class-predict/kernel'])
    torch.save(dict(embeddings=kernel.t()), path)
    detector = build_detector('vild-text_r50_fpn_lsj-180k_ov-lvis.py', class_embeddings=path)
    rows = F.normalize(kernel.t(), dim=-1)
    classifier = detector.roi_head.bbox_head.fc_cls
    torch.testing.assert_close(classifier.text_embeddings, rows)
    seen = detector.seen_classes
    assert 0 < seen.sum() < len(seen) == 1203
    torch.testing.assert_close(classifier.train_text_embeddings, rows[seen])
    detector.set_vocabulary(['a red cube', 'a blue ball'])  # not LVIS classes: CLIP encodes them
    assert classifier.text_embeddings.shape == (2, EMBED_DIM)
    assert not any(torch.allclose(row, released, atol=1e-3) for row in classifier.text_embeddings for released in rows)
    with pytest.raises(ClassEmbeddingsFileError, match='holds 1203 class embeddings but the vocabulary has 65'):
        build_detector('vild-text_r50_fpn_lsj-180k_ov-coco.py', class_embeddings=path)
    with pytest.raises(ClassEmbeddingsFileError, match='does not exist'):
        build_detector('vild-text_r50_fpn_lsj-180k_ov-coco.py', class_embeddings=str(tmp_path / 'missing.pth'))


def test_converter_writes_the_class_embeddings_beside_the_checkpoint(tmp_path):
    convert = load_converter().convert
    rng = np.random.default_rng(1)
    tensors = {name: rng.standard_normal(shape).astype(np.float32) for name, shape in official_variables().items()}
    write_tf_checkpoint(str(tmp_path / 'model.ckpt-180000'), tensors)
    convert(str(tmp_path), str(tmp_path / 'vild_r50.pth'))
    written = torch.load(tmp_path / 'vild_r50_class_embeddings.pth', weights_only=True)
    kernel = tensors['frcnn_layer_0/fast_rcnn_head/class-predict/kernel']
    assert torch.equal(written['embeddings'], torch.from_numpy(kernel).t())


def test_r152_checkpoint_maps_onto_the_r152_config():
    """Every variable of the reference's R152 ViLD graph (resnet_depth 152, as its README runs the R152 models) maps
    to a parameter of configs/vild/vild_r152_fpn_lsj-180k_ov-lvis.py with the parameter's shape, and every
    parameter is filled."""
    import re
    converter = load_converter()
    variables = official_variables(depth=152)
    assert converter.resnet_depth(variables, 'ckpt') == 152
    with pytest.raises(ConversionError, match=r'ckpt: no single ResNet-50/152 backbone .* \(found \[101\]\)'):
        converter.resnet_depth(['resnet101/conv2d/kernel'], 'ckpt')
    table = converter.variable_map(ensemble=False, depth=152)
    names = {name for name in variables if not any(re.fullmatch(pattern, name) for pattern in converter.DROPPED)}
    assert set(table) == names
    state = build_detector('vild_r152_fpn_lsj-180k_ov-lvis.py').state_dict()
    converted = {key: transform(torch.zeros(variables[name])) for name, (key, transform) in table.items()}
    converter.fold_conv_biases(converted)
    assert {key: value.shape for key, value in converted.items()} == {
        key: value.shape for key, value in state.items() if not key.endswith('num_batches_tracked')}
