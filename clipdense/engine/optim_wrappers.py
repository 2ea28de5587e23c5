"""Mixed precision where mmengine's AmpOptimWrapper cannot go: CPUs (it needs a CUDA, NPU or MLU device)."""
from contextlib import contextmanager

import torch
from mmengine.optim import OptimWrapper

from clipdense.registry import OPTIM_WRAPPERS
from clipdense.utils.precision import autocast


@OPTIM_WRAPPERS.register_module()
class CPUAutocastOptimWrapper(OptimWrapper):
    """``OptimWrapper`` whose forward passes run under ``torch.autocast('cpu', bfloat16)``: what ``--amp`` gives
    without a GPU. bf16 keeps fp32's exponent range, so no loss scaling is needed; weights and optimiser state stay
    fp32. Whether it is faster depends on the CPU (bf16 matrix instructions: without them a warning says so once)
    and the model: ``tools/analysis_tools/benchmark_train.py`` measures it."""

    @contextmanager
    def optim_context(self, model):
        with super().optim_context(model), autocast('bf16', torch.device('cpu')):
            yield
