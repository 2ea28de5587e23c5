"""Running the tools (tools/train.py, tools/test.py, the launch scripts) as users do, in a subprocess, on a small
synthetic world: what the trained methods' end-to-end tests share."""
import importlib.util
import os
import subprocess
import sys

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))


def load_tool(script):
    """The module of a script under tools/ (``tools/model_converters/x.py``), to call its functions in-process."""
    name = os.path.splitext(os.path.basename(script))[0]
    spec = importlib.util.spec_from_file_location(name, os.path.join(ROOT, script))
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def run_tool(script, *args, port=None):
    """``python script args`` (``bash`` for ``.sh``) from the repository root, one thread; its stdout + stderr,
    asserting it succeeded. A process that aborts prints its Python stack (faulthandler), so a failure says where."""
    env = dict(os.environ, PYTHONUNBUFFERED='1', PYTHONFAULTHANDLER='1', OMP_NUM_THREADS='1', PYTHON=sys.executable)
    if port:
        env['PORT'] = str(port)
    command = ['bash', script] if script.endswith('.sh') else [sys.executable, script]
    result = subprocess.run(command + list(args), cwd=ROOT, env=env, capture_output=True, text=True, timeout=900)
    output = result.stdout + result.stderr
    assert result.returncode == 0, output[-4000:]
    return output


def short_run(world, *extra):
    """--cfg-options for a few deterministic iterations (fixed seed, no loader workers, batch 2, a checkpoint every
    2 iterations) of a synthetic-world config on ``world``."""
    return ['--cfg-options', f'train_dataloader.dataset.data_root={world}', f'val_dataloader.dataset.data_root={world}',
            f'test_dataloader.dataset.data_root={world}', 'train_dataloader.batch_size=2',
            'train_dataloader.num_workers=0', 'train_dataloader.persistent_workers=False',
            'val_dataloader.num_workers=0', 'val_dataloader.persistent_workers=False', 'randomness.seed=0',
            'default_hooks.checkpoint.interval=2', 'default_hooks.logger.interval=1', *extra]
