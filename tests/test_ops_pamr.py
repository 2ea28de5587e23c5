"""PAMR's propagation in clipdense._ext against its PyTorch reference: the same bits, not just close."""
import pytest
import torch

from clipdense.models.refinement import PAMR
from clipdense.ops import load_ext, pamr_propagate, pamr_propagate_reference
from clipdense.ops.pamr import has_compiled_pamr

needs_ext = pytest.mark.skipif(
    load_ext() is None,
    reason='clipdense._ext is not built: run `python setup.py build_ext --inplace`')
CUDA = torch.cuda.is_available() and load_ext() is not None and load_ext().built_with_cuda()


def inputs(batch, channels, height, width, dilations, dtype=torch.float32, device='cpu', seed=0):
    generator = torch.Generator().manual_seed(seed)
    scores = torch.randn(batch, channels, height, width, generator=generator, dtype=torch.float64)
    weights = torch.rand(batch, 8 * len(dilations), height, width, generator=generator, dtype=torch.float64)
    weights = weights / weights.sum(dim=1, keepdim=True)
    return scores.to(device, dtype), weights.to(device, dtype)


@needs_ext
@pytest.mark.parametrize('dtype', [torch.float32, torch.float64])
@pytest.mark.parametrize('shape,dilations,steps', [
    ((1, 3, 9, 11), (1, 2), 2),
    ((2, 5, 17, 13), (8, 16), 3),  # dilations beyond the map: every neighbour clamped to a border
    ((1, 1, 1, 1), (1, ), 1),
    ((2, 4, 24, 31), (1, 3, 5), 10),
    ((1, 6, 200, 45), (8, 16), 2),  # bands of rows and a partial block of channels per task
])
def test_compiled_is_bit_exact_on_cpu(shape, dilations, steps, dtype):
    scores, weights = inputs(*shape, dilations, dtype)
    kept = scores.clone()
    compiled = load_ext().pamr_propagate(scores, weights, list(dilations), steps)
    assert torch.equal(compiled, pamr_propagate_reference(scores, weights, dilations, steps))
    assert torch.equal(scores, kept)  # the caller's scores are never written


@needs_ext
def test_compiled_reads_non_contiguous_inputs():
    scores, weights = inputs(1, 6, 12, 10, (2, 4))
    scores = scores.transpose(2, 3).contiguous().transpose(2, 3)  # channels-last-like strides
    assert not scores.is_contiguous()
    assert torch.equal(pamr_propagate(scores, weights, (2, 4), 2),
                       pamr_propagate_reference(scores.contiguous(), weights, (2, 4), 2))


@needs_ext
def test_pamr_module_uses_the_kernel_and_keeps_its_results():
    torch.manual_seed(0)
    guide, scores = torch.randn(1, 3, 40, 50), torch.randn(1, 7, 40, 50)
    pamr = PAMR(steps=4, dilations=(2, 5))
    assert has_compiled_pamr(scores)
    weights = pamr.affinity(guide)[:, 0]
    assert torch.equal(pamr(guide, scores), pamr_propagate_reference(scores, weights, (2, 5), 4))


def test_types_without_a_kernel_run_the_reference():
    scores, weights = inputs(1, 2, 6, 7, (1, ), torch.bfloat16)
    assert not has_compiled_pamr(scores)
    assert torch.equal(pamr_propagate(scores, weights, (1, ), 2), pamr_propagate_reference(scores, weights, (1, ), 2))
    assert pamr_propagate(scores, weights, (1, ), 0) is scores


@needs_ext
@pytest.mark.parametrize('change,message', [
    (dict(weights=torch.rand(1, 9, 6, 7)), r'weights must be \(B, 8, H, W\)'),
    (dict(weights=torch.rand(1, 8, 6, 7, dtype=torch.float64)), "weights must have the scores' dtype"),
    (dict(dilations=[0]), 'dilations must be positive'),
    (dict(dilations=[]), 'at least one dilation'),
    (dict(steps=-1), 'steps must be >= 0'),
    (dict(scores=torch.rand(2, 6, 7)), r'scores must be \(B, C, H, W\)'),
])
def test_compiled_rejects_bad_arguments(change, message):
    arguments = dict(scores=torch.rand(1, 2, 6, 7), weights=torch.rand(1, 8, 6, 7), dilations=[1], steps=1)
    arguments.update(change)
    with pytest.raises(RuntimeError, match=message):
        load_ext().pamr_propagate(**arguments)


@pytest.mark.skipif(not CUDA, reason='needs a GPU and clipdense._ext built with CUDA')
@pytest.mark.parametrize('dtype', [torch.float32, torch.float64, torch.float16, torch.bfloat16])
def test_compiled_is_bit_exact_on_cuda(dtype):
    scores, weights = inputs(2, 5, 33, 47, (8, 16), dtype, device='cuda')
    compiled = load_ext().pamr_propagate(scores, weights, [8, 16], 10)
    assert torch.equal(compiled, pamr_propagate_reference(scores, weights, (8, 16), 10))
