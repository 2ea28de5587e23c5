"""Bilinear resizing in clipdense._ext against F.interpolate: the same bits, not just close."""
import random

import pytest
import torch
import torch.nn.functional as F

from clipdense.ops import bilinear_resize, load_ext, resize_bilinear
from clipdense.ops.bilinear_resize import channel_pieces, compiled_matches_torch, torch_uses_generic_kernel

needs_ext = pytest.mark.skipif(
    load_ext() is None,
    reason='clipdense._ext is not built: run `python setup.py build_ext --inplace`')


def interpolate(source, size):
    return F.interpolate(source, size=size, mode='bilinear', align_corners=False)


def random_cases(count, seed):
    """(source shape, output size, window) with output height + width > 128 (PyTorch's generic kernel):
    enlargements, reductions and mixed, whole outputs and windows of them."""
    rng = random.Random(seed)
    cases = []
    while len(cases) < count:
        source = (1, rng.randint(4, 9), rng.randint(1, 90), rng.randint(1, 90))
        size = (rng.randint(1, 200), rng.randint(1, 200))
        if size[0] + size[1] <= 128:
            continue
        top, left = rng.randint(0, size[0] - 1), rng.randint(0, size[1] - 1)
        window = (top, left, rng.randint(1, size[0] - top), rng.randint(1, size[1] - left))
        cases.append((source, size, window if rng.random() < 0.7 else (0, 0) + size))
    return cases


@needs_ext
@pytest.mark.parametrize('threads', [1, 2, 3])
def test_compiled_kernel_gives_the_bits_of_f_interpolate(threads):
    previous = torch.get_num_threads()
    torch.set_num_threads(threads)
    try:
        generator = torch.Generator().manual_seed(threads)
        for shape, size, (top, left, height, width) in random_cases(60, seed=threads):
            source = torch.randn(shape, generator=generator) * 10
            expected = interpolate(source, size)[0, :, top:top + height, left:left + width]
            written = torch.full((shape[1], height, width), float('nan'))
            load_ext().bilinear_resize(source[0], written, list(size), [top, left], False)
            assert torch.equal(written, expected), (shape, size, (top, left, height, width))
            base = torch.randn(shape[1], height, width, generator=generator)
            added = base.clone()
            load_ext().bilinear_resize(source[0], added, list(size), [top, left], True)
            assert torch.equal(added, base + expected), (shape, size, (top, left, height, width))
    finally:
        torch.set_num_threads(previous)


@needs_ext
def test_long_maps_in_bands_of_rows():
    """ADE-sized maps: the output rows split into bands across tasks, each band re-interpolating its first rows."""
    generator = torch.Generator().manual_seed(0)
    source = torch.randn(1, 5, 84, 112, generator=generator)
    assert torch.equal(resize_bilinear(source, (512, 683)), interpolate(source, (512, 683)))


@needs_ext
def test_the_kernel_is_live_and_writes_through_strided_windows():
    assert compiled_matches_torch()  # otherwise every resize would silently be PyTorch's
    generator = torch.Generator().manual_seed(0)
    source = torch.randn(1, 6, 14, 14, generator=generator)
    canvas = torch.randn(6, 300, 400, generator=generator)
    expected = canvas.clone()
    expected[:, 50:274, 100:324] += interpolate(source, (224, 224))[0]
    region = canvas[None, :, 50:274, 100:324]
    assert resize_bilinear(source, (224, 224), add_to=region) is region
    assert torch.equal(canvas, expected)


@pytest.mark.parametrize('shape,size,window', [
    ((1, 5, 8, 8), (40, 60), None),  # height + width <= 128: PyTorch's channels-last kernel
    ((1, 3, 14, 14), (224, 224), (10, 20, 100, 90)),  # three channels
    ((1, 7, 1, 1), (100, 100), None),  # a 1 x 1 map is channels-last too
    ((2, 4, 9, 13), (90, 70), (5, 5, 30, 40)),  # two images
    ((1, 4, 30, 40), (30, 40), (1, 2, 20, 30)),  # no resize: a window of the source
])
def test_every_shape_gives_the_bits_of_f_interpolate(shape, size, window):
    """Whichever path a shape takes (the compiled kernel or PyTorch), the result is F.interpolate's."""
    generator = torch.Generator().manual_seed(0)
    source = torch.randn(shape, generator=generator)
    top, left, height, width = window or (0, 0) + size
    for threads in (1, 2):  # PyTorch's kernel for three channels depends on the threads: so do its bits
        previous = torch.get_num_threads()
        torch.set_num_threads(threads)
        try:
            expected = interpolate(source, size)[:, :, top:top + height, left:left + width]
            assert torch.equal(resize_bilinear(source, size, window), expected)
            base = torch.randn(expected.shape, generator=generator)
            assert torch.equal(resize_bilinear(source, size, window, add_to=base.clone()), base + expected)
        finally:
            torch.set_num_threads(previous)


def test_channels_last_kernel_shapes_are_left_to_pytorch():
    threads = torch.get_num_threads()
    assert not torch_uses_generic_kernel(torch.zeros(1, 5, 8, 8), (40, 60))
    assert not torch_uses_generic_kernel(torch.zeros(1, 8, 9, 9).contiguous(memory_format=torch.channels_last),
                                         (200, 200))
    assert torch_uses_generic_kernel(torch.zeros(1, 8, 9, 9), (200, 200))
    assert torch_uses_generic_kernel(torch.zeros(1, 3, 9, 9), (200, 200)) == (threads > 1)


def test_inputs_that_need_a_gradient_keep_autograd():
    source = torch.randn(1, 4, 9, 9, requires_grad=True)
    resized = resize_bilinear(source, (100, 100))
    resized.sum().backward()
    expected = source.detach().clone().requires_grad_()
    interpolate(expected, (100, 100)).sum().backward()
    assert torch.equal(source.grad, expected.grad)


@needs_ext
def test_a_pytorch_with_other_bits_is_found_out_and_used(monkeypatch):
    """A kernel that disagrees with this PyTorch's interpolation fails the check, and then is never called."""
    monkeypatch.setattr(load_ext(), 'bilinear_resize', lambda source, target, *args: target.zero_())
    assert not compiled_matches_torch.__wrapped__()
    monkeypatch.setattr(bilinear_resize, 'compiled_matches_torch', lambda: False)
    source = torch.randn(1, 6, 14, 14)
    assert torch.equal(resize_bilinear(source, (224, 224)), interpolate(source, (224, 224)))


def test_bad_windows_are_refused():
    source = torch.randn(1, 4, 9, 9)
    with pytest.raises(ValueError, match='does not fit'):
        resize_bilinear(source, (100, 100), (90, 0, 20, 10))
    with pytest.raises(ValueError, match='add_to has shape'):
        resize_bilinear(source, (100, 100), add_to=torch.zeros(1, 4, 99, 100))


def test_pytorch_adds_in_pieces_of_any_channels_but_three():
    assert channel_pieces(7, 3) == [(0, 2), (2, 4), (4, 6), (6, 7)]
    assert channel_pieces(8, 5) == [(0, 5), (5, 7), (7, 8)]
    assert channel_pieces(9, 4) == [(0, 4), (4, 8), (8, 9)]
    assert channel_pieces(3, 1) == [(0, 3)]  # a three-channel map is resized whole, as PyTorch would


def test_without_the_extension_pytorch_resizes_and_says_so_once(monkeypatch):
    said = []
    monkeypatch.setattr(bilinear_resize, 'load_ext', lambda: None)
    monkeypatch.setattr(bilinear_resize, 'print_log', lambda message, **kwargs: said.append(message))
    bilinear_resize._warn_missing_extension.cache_clear()
    try:
        source = torch.randn(1, 6, 14, 14)
        for _ in range(2):
            assert torch.equal(resize_bilinear(source, (224, 224)), interpolate(source, (224, 224)))
    finally:
        bilinear_resize._warn_missing_extension.cache_clear()
    assert len(said) == 1 and 'F.interpolate' in said[0] and 'pip install -e .' in said[0]


@needs_ext
@pytest.mark.parametrize('change,message', [
    (dict(source=torch.rand(2, 5, 6, dtype=torch.float64)), 'float32 maps only'),
    (dict(source=torch.rand(5, 6)), r'source \(P, h, w\) and target \(P, rows, columns\) expected'),
    (dict(target=torch.rand(3, 20, 30)), r'source \(P, h, w\) and target \(P, rows, columns\) expected'),
    (dict(target=torch.rand(2, 30, 20).transpose(1, 2)), "the target's rows must be contiguous"),
    (dict(offset=[15, 0]), r'a 20 x 30 window at \(15, 0\) does not fit'),
    (dict(size=[0, 30]), 'the output size must be positive'),
])
def test_compiled_rejects_bad_arguments(change, message):
    arguments = dict(source=torch.rand(2, 5, 6), target=torch.rand(2, 20, 30), size=[30, 30], offset=[0, 0],
                     accumulate=False)
    arguments.update(change)
    with pytest.raises(RuntimeError, match=message):
        load_ext().bilinear_resize(**arguments)
