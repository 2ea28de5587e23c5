import numpy as np
import pytest
import torch
from mmengine.logging import MessageHub
from mmengine.runner.checkpoint import _load_checkpoint

from clipdense.registry import register_all_modules


def runner_like_checkpoint(path):
    hub = MessageHub.get_instance('test_engine')
    hub.update_scalar('train/loss', np.float64(0.5))
    hub.update_info('iter', np.int64(2))
    torch.save({'meta': {'iter': 2, 'seed': np.int64(1), 'dataset_meta': {'classes': ('a', 'b')}},
                'message_hub': hub.state_dict(), 'state_dict': {'weight': torch.ones(2)}}, path)


def test_mmengine_checkpoints_load_with_weights_only(tmp_path):
    path = tmp_path / 'iter_2.pth'
    runner_like_checkpoint(path)
    with pytest.raises(Exception, match='Weights only load failed'):
        torch.load(path)  # torch's default alone refuses mmengine's checkpoints
    register_all_modules()
    checkpoint = _load_checkpoint(str(path), map_location='cpu')
    assert checkpoint['meta']['iter'] == 2
    assert torch.equal(checkpoint['state_dict']['weight'], torch.ones(2))


def test_other_globals_stay_forbidden(tmp_path):
    register_all_modules()

    class Payload:
        def __reduce__(self):
            return (print, ('executed',))

    path = tmp_path / 'evil.pth'
    torch.save({'x': Payload()}, path)
    with pytest.raises(Exception, match='Weights only load failed'):
        _load_checkpoint(str(path), map_location='cpu')


def test_missing_checkpoint_is_named(tmp_path):
    register_all_modules()
    with pytest.raises(FileNotFoundError, match='nowhere.pth'):
        _load_checkpoint(str(tmp_path / 'nowhere.pth'))


def test_cpu_autocast_optim_wrapper_runs_forward_passes_in_bf16():
    register_all_modules()
    from clipdense.registry import OPTIM_WRAPPERS
    model = torch.nn.Linear(4, 3)
    wrapper = OPTIM_WRAPPERS.build(dict(type='CPUAutocastOptimWrapper',
                                        optimizer=torch.optim.SGD(model.parameters(), lr=0.1)))
    with wrapper.optim_context(model):
        out = model(torch.randn(2, 4))
    assert out.dtype == torch.bfloat16
    wrapper.update_params(out.float().sum())
    assert model.weight.dtype == torch.float32
