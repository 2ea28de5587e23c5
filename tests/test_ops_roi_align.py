"""RoIAlign of clipdense._ext against torchvision, mmcv and the pure-PyTorch reference."""
import pytest
import torch
import torchvision

from clipdense.ops import RoIAlign, load_ext, roi_align, roi_align_reference

pytestmark = pytest.mark.skipif(
    load_ext() is None,
    reason='clipdense._ext is not built: run `python setup.py build_ext --inplace`')

CUDA = torch.cuda.is_available() and load_ext() is not None and load_ext().built_with_cuda()


def make_inputs(dtype=torch.float64, device='cpu', channels=3, seed=0):
    """Two 10 x 13 stride-4 feature maps and boxes in image pixels (a 40 x 52 image).

    The boxes cover the cases that differ between implementations: inside, partly outside,
    wholly outside, larger than the image, sub-pixel, zero width, zero area and a point on
    the border.
    """
    generator = torch.Generator().manual_seed(seed)
    features = torch.randn(2, channels, 10, 13, generator=generator, dtype=dtype)
    rois = torch.tensor(
        [
            [0, 5.3, 7.1, 30.6, 25.9],  # inside
            [1, -12.0, -9.5, 14.2, 11.0],  # partly outside, top left
            [1, 40.0, 30.0, 70.0, 55.0],  # partly outside, bottom right
            [0, 80.0, 60.0, 95.0, 75.0],  # wholly outside
            [1, -30.0, -30.0, 90.0, 80.0],  # larger than the image
            [0, 10.2, 11.7, 11.0, 12.1],  # sub-pixel
            [1, 12.0, 3.0, 12.0, 20.0],  # zero width
            [0, 17.0, 17.0, 17.0, 17.0],  # zero area
            [1, 0.0, 0.0, 0.0, 0.0],  # point on the border
        ],
        dtype=dtype)
    return features.to(device), rois.to(device)


def values_and_input_grad(fn, features, rois, *args, weight_dtype=None, **kwargs):
    """fn's output and the input gradient of a random weighted sum of it."""
    features = features.detach().clone().requires_grad_()
    output = fn(features, rois, *args, **kwargs)
    weights = torch.randn(output.shape, generator=torch.Generator().manual_seed(1))
    weights = weights.to(weight_dtype or output.dtype).to(output)
    (output * weights).sum().backward()
    return output.detach(), features.grad


TOLERANCES = {
    torch.float32: dict(rtol=1e-5, atol=1e-6),
    torch.float64: dict(rtol=1e-12, atol=1e-12)
}


@pytest.mark.parametrize('dtype', [torch.float32, torch.float64])
@pytest.mark.parametrize('aligned', [True, False])
@pytest.mark.parametrize('sampling_ratio', [0, 2])
def test_average_matches_torchvision(dtype, aligned, sampling_ratio):
    features, rois = make_inputs(dtype)
    ours = values_and_input_grad(roi_align, features, rois, (3, 4), 0.25, sampling_ratio, 'avg',
                                 aligned)
    theirs = values_and_input_grad(torchvision.ops.roi_align, features, rois, (3, 4), 0.25,
                                   sampling_ratio, aligned)
    for mine, reference in zip(ours, theirs):
        torch.testing.assert_close(mine, reference, **TOLERANCES[dtype])


@pytest.mark.parametrize('pool_mode', ['avg', 'max'])
@pytest.mark.parametrize('aligned', [True, False])
@pytest.mark.parametrize('sampling_ratio', [0, 2])
def test_matches_mmcv(pool_mode, aligned, sampling_ratio):
    mmcv_ops = pytest.importorskip('mmcv.ops', reason='mmcv with compiled ops is not installed')
    features, rois = make_inputs(torch.float32)
    if pool_mode == 'max' and aligned and sampling_ratio == 0:
        # Boxes without area have bins without samples; mmcv's CPU kernel returns its initial
        # maximum (-10000) there while clipdense returns 0 (test_empty_bins_pool_to_zero).
        rois = rois[(rois[:, 3] > rois[:, 1]) & (rois[:, 4] > rois[:, 2])]
    ours = values_and_input_grad(roi_align, features, rois, (3, 4), 0.25, sampling_ratio, pool_mode,
                                 aligned)
    theirs = values_and_input_grad(mmcv_ops.roi_align, features, rois, (3, 4), 0.25, sampling_ratio,
                                   pool_mode, aligned)
    for mine, reference in zip(ours, theirs):
        torch.testing.assert_close(mine, reference, rtol=1e-5, atol=1e-6)


@pytest.mark.parametrize('pool_mode', ['avg', 'max'])
@pytest.mark.parametrize('aligned', [True, False])
@pytest.mark.parametrize('sampling_ratio', [0, 1, 3])
def test_matches_reference(pool_mode, aligned, sampling_ratio):
    features, rois = make_inputs(torch.float64)
    ours = values_and_input_grad(roi_align, features, rois, (2, 3), 0.25, sampling_ratio, pool_mode,
                                 aligned)
    reference = values_and_input_grad(roi_align_reference, features, rois, (2, 3), 0.25,
                                      sampling_ratio, pool_mode, aligned)
    for mine, expected in zip(ours, reference):
        torch.testing.assert_close(mine, expected, rtol=1e-12, atol=1e-12)


@pytest.mark.parametrize('pool_mode', ['avg', 'max'])
@pytest.mark.parametrize('sampling_ratio', [0, 1, 3])
@pytest.mark.parametrize('min_size', [0.0, 0.5, 2.0])
def test_legacy_min_size_matches_reference(pool_mode, sampling_ratio, min_size):
    """Legacy boxes at least min_size feature pixels wide and high (0: TF's crop-and-resize, thin boxes as they
    are); the sub-pixel, zero-width and zero-area boxes pool otherwise than at mmcv's 1."""
    features, rois = make_inputs(torch.float64)
    ours = values_and_input_grad(roi_align, features, rois, (2, 3), 0.25, sampling_ratio, pool_mode, False,
                                 min_size)
    reference = values_and_input_grad(roi_align_reference, features, rois, (2, 3), 0.25, sampling_ratio,
                                      pool_mode, False, min_size)
    for mine, expected in zip(ours, reference):
        torch.testing.assert_close(mine, expected, rtol=1e-12, atol=1e-12)
    legacy = roi_align(features, rois, (2, 3), 0.25, sampling_ratio, pool_mode, False)
    thin = [5, 6, 7]  # rows of make_inputs under min_size feature pixels on a side
    assert not torch.allclose(ours[0][thin], legacy[thin])
    torch.testing.assert_close(ours[0][0], legacy[0])  # a box of several pixels is unchanged


def test_zero_width_box_samples_its_column():
    """With min_size 0 a zero-width box samples the column it lies on: bilinear in y only."""
    features, _ = make_inputs(torch.float64)
    box = torch.tensor([[0, 12.0, 3.0, 12.0, 19.0]], dtype=torch.float64)  # x = 3 on the stride-4 map
    pooled = roi_align(features, box, (4, 1), 0.25, 1, 'avg', False, 0.0)
    ys = 0.75 + (torch.arange(4, dtype=torch.float64) + 0.5) * 4 / 4  # y1 / 4 + (i + 0.5) x bin
    low = ys.floor().long()
    weight = (ys - low)[None]
    expected = features[0, :, low, 3] * (1 - weight) + features[0, :, low + 1, 3] * weight
    torch.testing.assert_close(pooled[0, :, :, 0], expected)


def test_reference_matches_torchvision():
    """The reference is written from the math; check it against an independent kernel."""
    features, rois = make_inputs(torch.float64)
    for aligned in (True, False):
        torch.testing.assert_close(
            roi_align_reference(features, rois, 5, 0.25, 0, 'avg', aligned),
            torchvision.ops.roi_align(features, rois, 5, 0.25, 0, aligned))


@pytest.mark.parametrize('pool_mode', ['avg', 'max'])
@pytest.mark.parametrize('aligned', [True, False])
def test_gradcheck(pool_mode, aligned):
    features, rois = make_inputs(torch.float64, channels=2)
    features.requires_grad_()
    assert torch.autograd.gradcheck(
        lambda x: roi_align(x, rois, (2, 2), 0.25, 2, pool_mode, aligned), (features, ))
    if not aligned:
        assert torch.autograd.gradcheck(
            lambda x: roi_align(x, rois, (2, 2), 0.25, 2, pool_mode, aligned, 0.0), (features, ))


def test_empty_bins_pool_to_zero():
    features, _ = make_inputs(torch.float32)
    point = torch.tensor([[0, 17.0, 17.0, 17.0, 17.0]])
    for pool_mode in ('avg', 'max'):
        output, grad = values_and_input_grad(roi_align, features, point, 2, 0.25, 0, pool_mode,
                                             True)
        assert output.abs().max() == 0
        assert grad.abs().max() == 0


def test_max_gradient_goes_to_the_winning_sample():
    # One bin, 2 x 2 samples at the centres of the four pixels of a 2 x 2 map (aligned): the
    # samples hit the pixels exactly, so the gradient lands on the largest pixel only.
    features = torch.tensor([[[[1.0, 5.0], [3.0, 2.0]]]], requires_grad=True)
    rois = torch.tensor([[0, 0.0, 0.0, 2.0, 2.0]])
    output = roi_align(features, rois, 1, 1.0, 2, 'max', True)
    assert output.item() == 5.0
    output.sum().backward()
    assert features.grad.tolist() == [[[[0.0, 1.0], [0.0, 0.0]]]]


def test_empty_box_list():
    features, rois = make_inputs(torch.float32)
    features.requires_grad_()
    for pool_mode in ('avg', 'max'):
        output = roi_align(features, rois[:0], (7, 7), 0.25, 0, pool_mode)
        assert output.shape == (0, 3, 7, 7)
        output.sum().backward()
        assert features.grad.shape == features.shape and features.grad.abs().max() == 0


def test_box_dtype_follows_features_and_int_output_size():
    features, rois = make_inputs(torch.float64)
    rois = (rois * 4).round() / 4  # exact in float32 too
    expected = roi_align(features, rois, (4, 4), 0.25)
    torch.testing.assert_close(roi_align(features, rois.float(), 4, 0.25), expected)
    assert roi_align(features.float(), rois.double(), 4, 0.25).dtype == torch.float32


def test_clear_errors():
    features, rois = make_inputs(torch.float32)
    with pytest.raises(ValueError, match='rois must have shape'):
        roi_align(features, rois[:, :4], 7)
    with pytest.raises(ValueError, match="pool_mode must be 'avg' or 'max'"):
        roi_align(features, rois, 7, pool_mode='mean')
    with pytest.raises(RuntimeError, match='batch index 2 but the input holds 2 images'):
        roi_align(features, torch.tensor([[2, 0.0, 0.0, 4.0, 4.0]]), 7)
    with pytest.raises(RuntimeError, match='CPU kernel supports float32 and float64'):
        roi_align(features.half(), rois, 7)
    with pytest.raises(ValueError, match='min_size must be >= 0'):
        roi_align(features, rois, 7, aligned=False, min_size=-1)
    with pytest.raises(ValueError, match='applies to legacy boxes only: set aligned=False'):
        RoIAlign(7, aligned=True, min_size=0)


def test_module_has_mmcv_signature():
    features, rois = make_inputs(torch.float32)
    layer = RoIAlign(
        output_size=7,
        spatial_scale=0.25,
        sampling_ratio=0,
        pool_mode='avg',
        aligned=True,
        use_torchvision=False)
    assert layer.output_size == (7, 7)
    assert 'pool_mode=\'avg\'' in repr(layer)
    torch.testing.assert_close(layer(features, rois), roi_align(features, rois, 7, 0.25))
    torchvision_layer = RoIAlign(7, 0.25, 0, use_torchvision=True)
    torch.testing.assert_close(torchvision_layer(features, rois), layer(features, rois))
    with pytest.raises(ValueError, match='use_torchvision=True'):
        RoIAlign(7, 0.25, 0, pool_mode='max', use_torchvision=True)
    with pytest.raises(ValueError, match='drop use_torchvision to set min_size'):
        RoIAlign(7, 0.25, 0, aligned=False, min_size=0, use_torchvision=True)
    assert 'min_size=0.0' in repr(RoIAlign(7, 0.25, 1, aligned=False, min_size=0))


def test_as_roi_layer_of_mmdet_single_roi_extractor():
    """mmdet builds one layer per level from ``roi_layer``; a class ``type`` selects ours."""
    pytest.importorskip('mmcv.ops', reason='mmdet needs mmcv with compiled ops')
    from mmdet.registry import MODELS
    from mmdet.utils import register_all_modules
    register_all_modules(init_default_scope=False)

    def extractor(roi_layer_type):
        return MODELS.build(
            dict(
                type='mmdet.SingleRoIExtractor',
                roi_layer=dict(type=roi_layer_type, output_size=7, sampling_ratio=0),
                out_channels=3,
                featmap_strides=[4, 8]))

    ours, mmcv_based = extractor(RoIAlign), extractor('RoIAlign')
    assert all(isinstance(layer, RoIAlign) for layer in ours.roi_layers)
    assert [layer.spatial_scale for layer in ours.roi_layers] == [0.25, 0.125]
    generator = torch.Generator().manual_seed(0)
    feats = (torch.randn(2, 3, 32, 32,
                         generator=generator), torch.randn(2, 3, 16, 16, generator=generator))
    # Small boxes go to the stride-4 level, large ones to stride 8 (mmdet's map_roi_levels).
    rois = torch.tensor([[0, 4.0, 4.0, 40.0, 36.0], [1, 0.0, 10.0, 120.0, 127.0],
                         [1, 60.0, 50.0, 75.0, 70.0]])
    torch.testing.assert_close(ours(feats, rois), mmcv_based(feats, rois), rtol=1e-5, atol=1e-6)


def test_roi_layer_from_a_lazy_import_config_file(tmp_path):
    """In an mmengine new-style config the class is named by an import."""
    pytest.importorskip('mmcv.ops', reason='mmdet needs mmcv with compiled ops')
    from mmdet.registry import MODELS
    from mmengine.config import Config
    config_file = tmp_path / 'roi_extractor.py'
    config_file.write_text(
        'from mmdet.models.roi_heads.roi_extractors import SingleRoIExtractor\n'
        'from clipdense.ops import RoIAlign\n\n'
        'roi_extractor = dict(type=SingleRoIExtractor,\n'
        '                     roi_layer=dict(type=RoIAlign, output_size=7, sampling_ratio=2),\n'
        '                     out_channels=3, featmap_strides=[4])\n')
    extractor = MODELS.build(Config.fromfile(config_file).roi_extractor)
    assert isinstance(extractor.roi_layers[0], RoIAlign)
    assert extractor.roi_layers[0].sampling_ratio == 2


@pytest.mark.skipif(not CUDA, reason='needs a GPU and clipdense._ext built with CUDA')
@pytest.mark.parametrize('dtype', [torch.float32, torch.float16, torch.bfloat16])
@pytest.mark.parametrize('pool_mode', ['avg', 'max'])
@pytest.mark.parametrize('aligned, min_size', [(True, 1.0), (False, 1.0), (False, 0.0)])
def test_cuda_matches_cpu(dtype, pool_mode, aligned, min_size):
    features, rois = make_inputs(torch.float32, channels=8)
    features = features.to(dtype).float()  # the CPU gets the values the GPU sees
    expected = values_and_input_grad(
        roi_align, features, rois, (3, 4), 0.25, 0, pool_mode, aligned, min_size, weight_dtype=dtype)
    on_gpu = values_and_input_grad(roi_align,
                                   features.cuda().to(dtype), rois.cuda(), (3, 4), 0.25, 0,
                                   pool_mode, aligned, min_size)
    tolerance = dict(rtol=1e-5, atol=1e-5) if dtype == torch.float32 else dict(rtol=2e-2, atol=2e-2)
    for gpu, cpu in zip(on_gpu, expected):
        assert gpu.dtype == dtype
        torch.testing.assert_close(gpu.float().cpu(), cpu, **tolerance)


def test_an_extension_built_from_older_sources_is_reported(monkeypatch):
    """A clipdense._ext built before an op's arguments changed does not load: the error says to rebuild it."""
    import types

    from clipdense.ops import ext_loader
    stale = types.SimpleNamespace(__file__='/somewhere/_ext.so')  # no interface_version: the first interface
    monkeypatch.setattr(ext_loader.importlib, 'import_module', lambda name: stale)
    ext_loader._import_ext.cache_clear()
    try:
        assert ext_loader.load_ext() is None
        with pytest.raises(RuntimeError, match=r'/somewhere/_ext.so was built from other sources \(interface 1, '
                                               r'these wrappers need 3\): rebuild it.*build_ext --inplace'):
            roi_align(*make_inputs(torch.float32), 7)
    finally:
        ext_loader._import_ext.cache_clear()
