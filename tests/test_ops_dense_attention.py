"""Fused dense attention of clipdense._ext against the bmm/softmax reference."""
import math

import pytest
import torch

from clipdense.ops import (dense_attention, dense_attention_reference, dense_attention_sdpa, load_ext,
                           select_dense_attention)

needs_ext = pytest.mark.skipif(
    load_ext() is None,
    reason='clipdense._ext is not built: run `python setup.py build_ext --inplace`')
CUDA = torch.cuda.is_available() and load_ext() is not None and load_ext().built_with_cuda()

PAIR_SETS = {
    'vanilla': ('qk', ),
    'clearclip': ('qq', ),
    'sclip': ('qq', 'kk'),
    'naclip': ('kk', ),
    'vv': ('vv', ),
    'all': ('qk', 'qq', 'kk', 'vv'),
}


def qkv(tokens, batch=2, heads=3, dim=16, dtype=torch.float32, seed=0):
    generator = torch.Generator().manual_seed(seed)
    return torch.randn(3, batch, heads, tokens, dim, generator=generator, dtype=dtype).unbind(0)


def gaussian_bias(grid_h, grid_w, std=5.0):
    """NACLIP-style neighbourhood bias over a grid of patches (plus a CLS token row/column)."""
    ys, xs = torch.meshgrid(torch.arange(grid_h), torch.arange(grid_w), indexing='ij')
    coords = torch.stack([ys.flatten(), xs.flatten()], dim=1).float()
    patch_bias = torch.exp(-torch.cdist(coords, coords)**2 / (2 * std**2))
    bias = torch.zeros(grid_h * grid_w + 1, grid_h * grid_w + 1)
    bias[1:, 1:] = patch_bias
    return bias


def make_bias(kind, q):
    batch, heads, tokens, _ = q.shape
    generator = torch.Generator().manual_seed(1)
    if kind == 'shared':
        return torch.randn(tokens, tokens, generator=generator, dtype=q.dtype)
    if kind == 'full':
        return torch.randn(batch, heads, tokens, tokens, generator=generator, dtype=q.dtype)
    return None


@needs_ext
@pytest.mark.parametrize('method', list(PAIR_SETS))
@pytest.mark.parametrize('tokens', [1, 7, 197, 785])
@pytest.mark.parametrize('bias_kind', [None, 'shared', 'full'])
def test_matches_reference(method, tokens, bias_kind):
    q, k, v = qkv(tokens, batch=1 if tokens == 785 else 2)
    bias = make_bias(bias_kind, q)
    pairs = PAIR_SETS[method]
    expected = dense_attention_reference(q, k, v, pairs, bias=bias)
    torch.testing.assert_close(
        dense_attention(q, k, v, pairs, bias=bias), expected, rtol=1e-5, atol=1e-5)


@needs_ext
def test_float64_is_tight_and_naclip_bias_works():
    q, k, v = qkv(50, dim=64, dtype=torch.float64)
    bias = gaussian_bias(7, 7).double()
    for pairs in PAIR_SETS.values():
        torch.testing.assert_close(
            dense_attention(q, k, v, pairs, scale=0.3, bias=bias),
            dense_attention_reference(q, k, v, pairs, scale=0.3, bias=bias),
            rtol=1e-12,
            atol=1e-12)


def test_reference_follows_the_definition():
    """SCLIP sums (does not average) the two maps; the scale defaults to d ** -0.5."""
    q, k, v = qkv(5, batch=1, heads=1, dim=4, dtype=torch.float64)
    qq = torch.softmax(q[0, 0] @ q[0, 0].T / 2, dim=-1) @ v[0, 0]
    kk = torch.softmax(k[0, 0] @ k[0, 0].T / 2, dim=-1) @ v[0, 0]
    torch.testing.assert_close(dense_attention_reference(q, k, v, ('qq', 'kk'))[0, 0], qq + kk)
    torch.testing.assert_close(dense_attention_reference(q, k, v, 'kk', scale=0.5)[0, 0], kk)


@needs_ext
def test_non_contiguous_inputs_and_broadcast_bias():
    generator = torch.Generator().manual_seed(0)
    # q, k, v straight out of a fused (B, N, 3, heads, d) projection, as in a ViT block.
    qkv_tokens = torch.randn(2, 30, 3, 4, 8, generator=generator)
    q, k, v = qkv_tokens.permute(2, 0, 3, 1, 4).unbind(0)
    assert not q.is_contiguous()
    per_head = torch.randn(4, 30, 30, generator=generator)  # broadcasts over the batch
    torch.testing.assert_close(
        dense_attention(q, k, v, 'qk', bias=per_head),
        dense_attention_reference(q, k, v, 'qk', bias=per_head),
        rtol=1e-5,
        atol=1e-5)


@needs_ext
@pytest.mark.parametrize('bias_kind', [None, 'shared'])
def test_gradients_match_reference(bias_kind):
    q, k, v = qkv(20, dtype=torch.float64)
    bias = make_bias(bias_kind, q)
    inputs = [t.clone().requires_grad_() for t in (q, k, v)
              ] + ([bias.clone().requires_grad_()] if bias is not None else [None])
    ref_inputs = [t.clone().detach().requires_grad_() if t is not None else None for t in inputs]
    grad_output = torch.randn(q.shape, dtype=torch.float64)
    dense_attention(*inputs[:3], ('qq', 'kk', 'qk'), bias=inputs[3]).backward(grad_output)
    dense_attention_reference(
        *ref_inputs[:3], ('qq', 'kk', 'qk'), bias=ref_inputs[3]).backward(grad_output)
    for mine, expected in zip(inputs, ref_inputs):
        if mine is not None:
            torch.testing.assert_close(mine.grad, expected.grad, rtol=1e-10, atol=1e-10)


@needs_ext
def test_gradcheck():
    q, k, v = [t.requires_grad_() for t in qkv(6, batch=1, heads=2, dim=4, dtype=torch.float64)]
    assert torch.autograd.gradcheck(lambda q, k, v: dense_attention(q, k, v, ('qq', 'kv')),
                                    (q, k, v))


@needs_ext
def test_fully_masked_row_is_nan_like_the_reference():
    q, k, v = qkv(3, batch=1, heads=1)
    bias = torch.zeros(3, 3)
    bias[1] = -math.inf
    mine = dense_attention(q, k, v, 'qk', bias=bias)
    expected = dense_attention_reference(q, k, v, 'qk', bias=bias)
    assert mine[0, 0, 1].isnan().all() and expected[0, 0, 1].isnan().all()
    torch.testing.assert_close(mine[0, 0, ::2], expected[0, 0, ::2])


@pytest.mark.parametrize('fn', [dense_attention, dense_attention_reference])
def test_clear_errors(fn):
    q, k, v = qkv(4)
    with pytest.raises(ValueError, match='two letters of "qkv"'):
        fn(q, k, v, ('qx', ))
    with pytest.raises(ValueError, match='at least one pair'):
        fn(q, k, v, ())
    with pytest.raises(ValueError, match='must be distinct'):
        fn(q, k, v, ('qq', 'qq'))
    with pytest.raises(ValueError, match=r'must all be \(B, heads, N, d\)'):
        fn(q, k[..., :3], v)
    with pytest.raises(ValueError, match='does not broadcast'):
        fn(q, k, v, bias=torch.zeros(5, 5))


@needs_ext
def test_cpu_rejects_half():
    q, k, v = qkv(4, dtype=torch.float16)
    with pytest.raises(RuntimeError, match='CPU kernel supports float32 and float64'):
        dense_attention(q, k, v)


def test_select_uses_sdpa_on_the_cpu():
    choice = select_dense_attention('cpu')
    assert (choice.function, choice.name) == (dense_attention_sdpa, 'sdpa')
    assert 'on cpu: torch scaled_dot_product_attention' in choice.reason


@pytest.mark.skipif(CUDA, reason='the extension has CUDA kernels and a GPU is present')
def test_select_for_cuda_without_cuda_kernels():
    choice = select_dense_attention('cuda')
    assert (choice.function, choice.name) == (dense_attention_sdpa, 'sdpa')
    assert 'because clipdense._ext' in choice.reason


@pytest.mark.skipif(not CUDA, reason='needs a GPU and clipdense._ext built with CUDA')
def test_select_uses_the_compiled_op_on_cuda():
    choice = select_dense_attention('cuda')
    assert (choice.function, choice.name) == (dense_attention, 'compiled')


def test_last_blocks_log_the_choice_once(monkeypatch):
    from clipdense.models.clip import LastBlock, SCLIPLastBlock
    messages = []
    monkeypatch.setattr('clipdense.models.clip.last_blocks.print_log',
                        lambda message, logger=None, level=None: messages.append(message))
    monkeypatch.setattr(LastBlock, '_logged_choices', set())
    q = torch.randn(1, 2, 5, 4)
    for _ in range(2):
        SCLIPLastBlock().dense_attention(q, q, q, ('qq',), scale=0.5)
    assert len(messages) == 1 and 'on cpu: torch scaled_dot_product_attention' in messages[0]


@pytest.mark.parametrize('method', list(PAIR_SETS))
@pytest.mark.parametrize('tokens', [1, 7, 197])
@pytest.mark.parametrize('bias_kind', [None, 'shared', 'full'])
def test_sdpa_matches_reference(method, tokens, bias_kind):
    q, k, v = qkv(tokens)
    bias = make_bias(bias_kind, q)
    pairs = PAIR_SETS[method]
    expected = dense_attention_reference(q, k, v, pairs, bias=bias)
    torch.testing.assert_close(dense_attention_sdpa(q, k, v, pairs, bias=bias), expected, rtol=1e-5, atol=1e-5)


@pytest.mark.skipif(not CUDA, reason='needs a GPU and clipdense._ext built with CUDA')
@pytest.mark.parametrize('dtype', [torch.float32, torch.float16, torch.bfloat16])
@pytest.mark.parametrize('tokens', [1, 7, 197, 785])
@pytest.mark.parametrize('dim', [32, 64, 80, 128])
@pytest.mark.parametrize('bias_kind', [None, 'shared', 'full'])
def test_cuda_matches_reference(dtype, tokens, dim, bias_kind):
    q, k, v = [t.cuda() for t in qkv(tokens, dim=dim)]
    bias = make_bias(bias_kind, q)
    bias = bias.cuda() if bias is not None else None
    expected = dense_attention_reference(q, k, v, ('qq', 'kk'), bias=bias)
    cast = [t.to(dtype) if t is not None else None for t in (q, k, v, bias)]
    mine = dense_attention(*cast[:3], ('qq', 'kk'), bias=cast[3])
    assert mine.dtype == dtype
    tolerance = dict(rtol=1e-4, atol=1e-4) if dtype == torch.float32 else dict(rtol=3e-2, atol=3e-2)
    torch.testing.assert_close(mine.float(), expected, **tolerance)
