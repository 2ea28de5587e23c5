"""Fused dense attention of training-free CLIP segmentation, backed by ``clipdense._ext``.

``out = sum over pairs (a, b) of softmax(a @ b^T * scale + bias) @ v`` for q, k, v of shape
(B, heads, N, d): vanilla CLIP is ``('qk',)``, SCLIP ``('qq', 'kk')`` (summed, not halved),
ClearCLIP ``('qq',)``, NACLIP ``('kk',)`` with its Gaussian neighbourhood ``bias``.

The compiled kernels compute the forward pass only, without the N x N maps of the
bmm/softmax chain; the backward pass recomputes the PyTorch reference under autograd.
"""
from typing import Callable, NamedTuple, Optional, Sequence, Tuple, Union

import torch
import torch.nn.functional as F
from torch import Tensor
from torch.autograd import Function

from .ext_loader import ext_import_error, ext_supports_device, load_ext, require_ext
from .reference import check_attention_inputs, dense_attention_reference, parse_pairs

_OPERAND_INDEX = dict(q=0, k=1, v=2)


class DenseAttentionFunction(Function):
    """Compiled forward; backward by differentiating the reference (recomputed)."""

    @staticmethod
    def forward(ctx, q: Tensor, k: Tensor, v: Tensor, pairs: Tuple[str, ...], scale: float,
                bias: Optional[Tensor]) -> Tensor:
        ctx.save_for_backward(q, k, v, bias)
        ctx.pairs, ctx.scale = pairs, scale
        return _compiled_forward(q, k, v, pairs, scale, bias)

    @staticmethod
    def backward(ctx, grad_output: Tensor):
        q, k, v, bias = ctx.saved_tensors
        inputs = [
            t.detach().requires_grad_(needs) if t is not None else None
            for t, needs in zip((q, k, v, bias), ctx.needs_input_grad[:3] +
                                ctx.needs_input_grad[5:6])
        ]
        with torch.enable_grad():
            output = dense_attention_reference(*inputs[:3], ctx.pairs, ctx.scale, inputs[3])
        wanted = [t for t in inputs if t is not None and t.requires_grad]
        grads = iter(torch.autograd.grad(output, wanted, grad_output))
        q_grad, k_grad, v_grad, bias_grad = [
            next(grads) if t is not None and t.requires_grad else None for t in inputs
        ]
        return q_grad, k_grad, v_grad, None, None, bias_grad


def _compiled_forward(q: Tensor, k: Tensor, v: Tensor, pairs: Tuple[str, ...], scale: float,
                      bias: Optional[Tensor]) -> Tensor:
    lhs = [_OPERAND_INDEX[pair[0]] for pair in pairs]
    rhs = [_OPERAND_INDEX[pair[1]] for pair in pairs]
    return require_ext('dense_attention').dense_attention_forward(q, k, v, lhs, rhs, scale, bias)


def dense_attention(q: Tensor,
                    k: Tensor,
                    v: Tensor,
                    pairs: Union[str, Sequence[str]] = ('qq', 'kk'),
                    scale: Optional[float] = None,
                    bias: Optional[Tensor] = None) -> Tensor:
    """Sum over ``pairs`` of ``softmax(a @ b^T * scale + bias) @ v`` with the compiled op.

    Args:
        q, k, v: (B, heads, N, d) in one dtype on one device: float32/float64 on the CPU,
            float32/float16/bfloat16 on CUDA (d <= 128).
        pairs: two-letter names of (a, b), e.g. ``('qq', 'kk')`` or ``'qk'``.
        scale: logit scale; ``d ** -0.5`` when None.
        bias: additive logit bias broadcastable to (B, heads, N, N), typically a heads-shared
            (N, N) map; it is used as a stride-0 view, never copied per head.

    Returns:
        (B, heads, N, d) attention output in q's dtype.
    """
    pairs = parse_pairs(pairs)
    scale, bias = check_attention_inputs(q, k, v, scale, bias)
    needs_grad = torch.is_grad_enabled() and any(
        t is not None and t.requires_grad for t in (q, k, v, bias))
    if needs_grad:
        return DenseAttentionFunction.apply(q, k, v, pairs, scale, bias)
    return _compiled_forward(q, k, v, pairs, scale, bias)


def dense_attention_sdpa(q: Tensor, k: Tensor, v: Tensor, pairs: Union[str, Sequence[str]] = ('qq', 'kk'),
                         scale: Optional[float] = None, bias: Optional[Tensor] = None) -> Tensor:
    """The same sum with torch's fused ``scaled_dot_product_attention``, one call per pair.

    Exact in the same sense as the reference: each pair is a standard attention ``softmax(a bᵀ s + bias) v``.
    No N x N map per pair is kept alive between calls, and torch's CPU kernel is the fastest CPU path here.
    """
    pairs = parse_pairs(pairs)
    scale, bias = check_attention_inputs(q, k, v, scale, bias)
    operands = dict(q=q, k=k, v=v)
    mask = bias.to(q.dtype) if bias is not None else None
    out = None
    for a, b in pairs:
        term = F.scaled_dot_product_attention(operands[a], operands[b], v, attn_mask=mask, scale=scale)
        out = term if out is None else out + term
    return out


class DenseAttentionChoice(NamedTuple):
    """The implementation picked for a device, its short name and why (for the caller's log)."""

    function: Callable
    name: str
    reason: str


def select_dense_attention(device: Union[str, torch.device] = 'cpu') -> DenseAttentionChoice:
    """Pick the dense-attention implementation for tensors on ``device``.

    * CUDA, with ``clipdense._ext`` built with CUDA kernels: the compiled streaming-softmax op
      (``'compiled'``), which never materialises the N x N maps;
    * otherwise: ``dense_attention_sdpa`` (``'sdpa'``). On the CPU it is faster than the compiled CPU
      kernel at the shapes the methods use (``tools/analysis_tools/benchmark_ops.py``, docs/ops.md), so the
      compiled CPU kernel is kept for parity tests and the benchmark, not chosen by models.

    All take ``(q, k, v, pairs, scale, bias)``. ``ops`` logs nothing itself: callers log ``reason`` once.
    """
    device = torch.device(device)
    if device.type == 'cuda' and load_ext() is not None and ext_supports_device(device):
        return DenseAttentionChoice(dense_attention, 'compiled',
                                    'dense attention on cuda: the compiled streaming op from clipdense._ext')
    if device.type == 'cuda':
        why = ('clipdense._ext does not import' if load_ext() is None else
               'clipdense._ext was built without CUDA kernels (rebuild with FORCE_CUDA=1)')
        reason = f'dense attention on cuda: torch scaled_dot_product_attention per pair, because {why}'
    else:
        reason = (f'dense attention on {device.type}: torch scaled_dot_product_attention per pair '
                  '(faster than the compiled CPU kernel)')
    return DenseAttentionChoice(dense_attention_sdpa, 'sdpa', reason)
