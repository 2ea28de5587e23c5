"""The accuracy smoke test: training-free methods with the embedded clipdense-tiny CLIP on the synthetic world.

Each method must land on its measured mIoU and far above the same pipeline on random CLIP weights, and replacing
SCLIP's last block by CLIP's own (q·kᵀ attention, the "vanilla" model the methods fix) must cost accuracy. The
40 val scenes are a pure function of the seed and inference is deterministic on the CPU, so the figures
reproduce; the margins cover other BLAS builds. Later methods (trained ones) must beat these figures.
"""
import os

import pytest
from mmengine.config import Config
from mmengine.runner import Runner

from clipdense.datasets.synthetic import write_synthetic_world
from clipdense.models.clip.loading import EMBEDDED_WEIGHTS
from clipdense.registry import register_all_modules

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
# mIoU (%) on the 40 val scenes of seed 0 (64 classes, background not scored) with the committed checkpoint,
# measured 2026-11-23 with tools/test.py on each config (docs/embedded_clip.md).
MEASURED = {'sclip': 12.10, 'clearclip': 11.65, 'maskclip': 10.93, 'naclip': 14.27}
MEASURED_VANILLA = 10.68  # SCLIP with VanillaLastBlock
MEASURED_RANDOM_WEIGHTS = 0.43  # SCLIP on random clipdense-tiny weights drawn after seed 0 (uniform random labels: 0.7)
MARGIN = 0.5
RANDOM_MARGIN = 0.1  # random weights give a near-constant labelling: its mIoU moves far less than a method's

pytestmark = [
    pytest.mark.skipif(not EMBEDDED_WEIGHTS['clipdense-tiny'].is_file(),
                       reason='the embedded clipdense-tiny checkpoint is not in this checkout'),
]


@pytest.fixture(scope='module')
def world(tmp_path_factory):
    """The 40 val scenes of seed 0."""
    root = tmp_path_factory.mktemp('synthetic_world')
    write_synthetic_world(str(root), num_train=0, num_val=40, seed=0)
    return root


@pytest.fixture(scope='module')
def evaluate(world, tmp_path_factory):
    """mIoU of a method's synthetic-world config with model overrides, each run once per session."""
    results = {}

    def run(method, **model_overrides):
        key = (method, repr(sorted(model_overrides.items())))
        if key not in results:
            register_all_modules()
            cfg = Config.fromfile(os.path.join(ROOT, f'configs/{method}/{method}_clipdense-tiny_synthetic-world.py'))
            cfg.model.update(model_overrides)
            cfg.test_dataloader.dataset.data_root = str(world)
            cfg.test_dataloader.num_workers = 0
            cfg.test_dataloader.persistent_workers = False
            cfg.work_dir = str(tmp_path_factory.mktemp(method))
            cfg.default_hooks.logger.interval = 1000
            cfg.randomness = dict(seed=0)  # random weights are drawn after the seed
            results[key] = float(Runner.from_cfg(cfg).test()['mIoU'])
        return results[key]

    return run


@pytest.mark.parametrize('method', ['sclip', 'clearclip', 'maskclip', pytest.param('naclip', marks=pytest.mark.slow)])
def test_method_reproduces_its_measured_miou(method, evaluate):
    miou = evaluate(method)
    assert miou == pytest.approx(MEASURED[method], abs=MARGIN), f'{method}: mIoU {miou:.2f}'
    assert miou > 5 * MEASURED_RANDOM_WEIGHTS, f'{method}: mIoU {miou:.2f} is not far above random weights'


# bf16 inference (model.precision='bf16') against fp32 on the same 40 scenes, measured 2026-12-05 (AVX-512 BF16
# and AMX, tools/analysis_tools/benchmark_trainfree.py, blocks through SDPA): pixels labelled as in fp32 99.7 /
# 99.7 / 99.6 / 99.7 %, mIoU 12.07 / 11.69 / 10.95 / 14.25 against fp32's 12.10 / 11.65 / 10.93 / 14.27 (sclip /
# clearclip / maskclip / naclip). The bounds are issue 18's: >= 99 % of the pixels, mIoU within 0.5.
@pytest.mark.parametrize('method', ['sclip', 'clearclip', 'maskclip', pytest.param('naclip', marks=pytest.mark.slow)])
def test_bf16_agrees_with_fp32(method, world, evaluate):
    import torch
    from clipdense.apis import inference_model, init_model
    config = os.path.join(ROOT, f'configs/{method}/{method}_clipdense-tiny_synthetic-world.py')
    images = sorted((world / 'images/validation').iterdir())
    labels = {}
    for precision in ('fp32', 'bf16'):
        model = init_model(config, precision=precision, cfg_options={'model.text_cache_dir': None})
        labels[precision] = [inference_model(model, str(image)).pred_sem_seg.data for image in images]
    agreement = torch.stack([(a == b).float().mean() for a, b in zip(labels['fp32'], labels['bf16'])]).mean()
    assert agreement >= 0.99, f'{method}: {100 * agreement:.2f} % of pixels as in fp32'
    assert evaluate(method, precision='bf16') == pytest.approx(evaluate(method), abs=0.5)


def test_vanilla_last_block_and_random_weights_drop_accuracy(evaluate):
    sclip = evaluate('sclip')
    vanilla = evaluate('sclip', last_block=dict(type='VanillaLastBlock'))
    random = evaluate('sclip', clip=dict(name='clipdense-tiny', pretrained=None))
    assert vanilla == pytest.approx(MEASURED_VANILLA, abs=MARGIN)
    assert random == pytest.approx(MEASURED_RANDOM_WEIGHTS, abs=RANDOM_MARGIN)
    assert sclip - vanilla > (MEASURED['sclip'] - MEASURED_VANILLA) / 2, (sclip, vanilla)
    assert sclip > 5 * random, (sclip, random)
