"""Inference precision (``model.precision``, ``--precision``, ``init_model(precision=...)``) and ``--compile``
for every kind of model: the text classifier, the segmentors (whole step lowered, fp32 scores handed back) and
the detectors (feature extractors lowered, box post-processing in fp32). The training-free methods' agreement with
fp32 on the synthetic world is asserted in test_synthetic_benchmark.py."""
import os

import pytest
import torch

from clipdense.apis import inference_detector, inference_model, init_model
from clipdense.models.clip import TextClassifier, build_clip
from clipdense.utils import UserError
from clipdense.utils import precision as precision_module
from clipdense.utils.precision import PrecisionError, autocast, check_precision, native_support
from tool_runs import ROOT, run_tool

SYNTHETIC = {
    'sclip': 'configs/sclip/sclip_clipdense-tiny_synthetic-world.py',
    'zegclip': 'configs/zegclip/zegclip_clipdense-tiny_synthetic-world_inductive.py',
    'san': 'configs/san/san_clipdense-tiny_synthetic-world.py',
    'fcclip': 'configs/fcclip/fcclip_clipdense-tiny-convnext_synthetic-world.py',
    'vild': 'configs/vild/vild-text_r18-tiny-fpn_clipdense-tiny_synthetic-world.py',
}


def val_image(world, index=0):
    return os.path.join(world, 'images/validation', sorted(os.listdir(os.path.join(world, 'images/validation')))[index])


def test_unknown_precision_names_the_choices():
    with pytest.raises(PrecisionError, match="'fp8' is unknown: use one of fp32, bf16, fp16"):
        check_precision('fp8')
    assert issubclass(PrecisionError, UserError)
    with pytest.raises(PrecisionError):  # before anything is built
        init_model(os.path.join(ROOT, SYNTHETIC['sclip']), precision='half')
    assert autocast('fp32', torch.device('cpu')).__class__.__name__ == 'nullcontext'


@pytest.mark.parametrize('avx512_bf16,amx', [(False, False), (True, False), (False, True)])
def test_bf16_on_a_cpu_needs_its_instructions(monkeypatch, avx512_bf16, amx):
    """On x86, bf16 is native with AVX512-BF16 or AMX only: on plain AVX-512 (which oneDNN's own check accepts) it
    runs slower than fp32, and autocast says so once, with the advice to use fp32."""
    monkeypatch.setattr(precision_module.platform, 'machine', lambda: 'x86_64')
    monkeypatch.setattr(torch.cpu, '_is_avx512_bf16_supported', lambda: avx512_bf16, raising=False)
    monkeypatch.setattr(torch.cpu, '_is_amx_tile_supported', lambda: amx, raising=False)
    monkeypatch.setattr(torch.ops.mkldnn, '_is_mkldnn_bf16_supported', lambda: True)
    monkeypatch.setattr(precision_module, '_warned', set())
    logged = []
    monkeypatch.setattr(precision_module, 'print_log', lambda message, **kwargs: logged.append(message))
    cpu = torch.device('cpu')
    for _ in range(2):
        with autocast('bf16', cpu):
            assert torch.get_autocast_dtype('cpu') == torch.bfloat16
    if avx512_bf16 or amx:
        assert native_support('bf16', cpu) is None and logged == []
    else:
        assert native_support('bf16', cpu) == 'this CPU has no native bf16 instructions (it is emulated, slowly)'
        assert len(logged) == 1 and 'likely slower than fp32 (precision=fp32)' in logged[0]


def test_text_is_encoded_in_the_precision_and_cached_apart(tmp_path):
    clip = build_clip('test-tiny-vit', None)
    exact = TextClassifier(clip, 'photo', clip_name='test-tiny-vit', cache_dir=str(tmp_path))
    lowered = TextClassifier(clip, 'photo', clip_name='test-tiny-vit', cache_dir=str(tmp_path), precision='bf16')
    names = ['cat', 'dog', 'traffic light']
    assert exact._cache_key(names) != lowered._cache_key(names)
    exact_embeddings, lowered_embeddings = exact(names).embeddings, lowered(names).embeddings
    assert lowered_embeddings.dtype == torch.float32
    assert len(os.listdir(tmp_path)) == 2  # one file per precision
    cosine = (exact_embeddings * lowered_embeddings).sum(-1)
    assert not torch.equal(exact_embeddings, lowered_embeddings)  # bf16 really ran
    assert cosine.min() > 0.99, cosine
    with pytest.raises(PrecisionError):
        TextClassifier(clip, 'photo', clip_name='test-tiny-vit', cache_dir=None, precision='int8')


@pytest.mark.parametrize('method', ['zegclip', 'san', 'fcclip'])
def test_trained_segmentors_run_lowered_and_return_fp32(method, small_synthetic_world):
    image = val_image(small_synthetic_world)
    results = {}
    for precision in ('fp32', 'bf16'):
        torch.manual_seed(0)  # the same random heads
        model = init_model(os.path.join(ROOT, SYNTHETIC[method]), precision=precision,
                           cfg_options={'model.text_cache_dir': None})
        assert model.precision == precision
        results[precision] = inference_model(model, image)
    exact, lowered = (results[p].seg_logits.data for p in ('fp32', 'bf16'))
    assert lowered.dtype == torch.float32 and lowered.shape == exact.shape
    assert not torch.equal(lowered, exact)  # the step ran under bf16 autocast
    assert (lowered - exact).abs().mean() < 0.05 * exact.abs().mean() + 1e-3


def test_set_precision_encodes_the_vocabulary_again(small_synthetic_world):
    model = init_model(os.path.join(ROOT, SYNTHETIC['sclip']), cfg_options={'model.text_cache_dir': None})
    exact = model.name_embeddings.clone()
    model.set_precision('bf16')
    assert model.precision == 'bf16' and model.text_classifier.precision == 'bf16'
    assert not torch.equal(model.name_embeddings, exact)
    assert torch.allclose(model.name_embeddings, exact, atol=0.02)
    with pytest.raises(PrecisionError):
        model.set_precision('fp64')


def test_detector_lowers_features_and_keeps_boxes_fp32(small_synthetic_world):
    image = val_image(small_synthetic_world)
    results = {}
    for precision in ('fp32', 'bf16'):
        torch.manual_seed(0)
        model = init_model(os.path.join(ROOT, SYNTHETIC['vild']), precision=precision,
                           cfg_options={'model.text_cache_dir': None})
        features = model.extract_feat(torch.zeros(1, 3, 64, 64))
        assert all(level.dtype == torch.float32 for level in features)
        results[precision] = inference_detector(model, image).pred_instances
    exact, lowered = results['fp32'], results['bf16']
    assert lowered.bboxes.dtype == torch.float32 and lowered.scores.dtype == torch.float32
    assert len(lowered) == len(exact) > 0
    assert not torch.equal(lowered.scores, exact.scores)
    # the best detection moves by a fraction of a pixel
    assert (lowered.bboxes[0] - exact.bboxes[0]).abs().max() < 2.0


def test_test_tool_and_demo_take_precision(small_synthetic_world, tmp_path):
    output = run_tool('tools/test.py', SYNTHETIC['sclip'], '--precision', 'bf16', '--work-dir', str(tmp_path / 'w'),
                      '--cfg-options', f'test_dataloader.dataset.data_root={small_synthetic_world}',
                      'test_dataloader.num_workers=0', 'test_dataloader.persistent_workers=False')
    assert 'mIoU' in output and "precision='bf16'" in output
    output = run_tool('demo/image_demo.py', val_image(small_synthetic_world), SYNTHETIC['sclip'], '--pretrained',
                      'embedded', '--precision', 'bf16', '--out', str(tmp_path / 'demo.png'))
    assert 'overlay written' in output and (tmp_path / 'demo.png').is_file()


def test_bad_precision_option_is_a_usage_error():
    import subprocess
    import sys
    result = subprocess.run([sys.executable, 'tools/test.py', SYNTHETIC['sclip'], '--precision', 'fp8'], cwd=ROOT,
                            capture_output=True, text=True)
    assert result.returncode == 2 and "invalid choice: 'fp8'" in result.stderr


@pytest.mark.slow
def test_compiled_tower_gives_the_same_labels(small_synthetic_world, tmp_path):
    image = val_image(small_synthetic_world)
    exact = inference_model(init_model(os.path.join(ROOT, SYNTHETIC['sclip'])), image)
    model = init_model(os.path.join(ROOT, SYNTHETIC['sclip']), compile=True)
    state_keys = set(model.state_dict())
    compiled = inference_model(model, image)
    assert set(model.state_dict()) == state_keys  # compiled in place: checkpoints are unchanged
    assert (compiled.pred_sem_seg.data == exact.pred_sem_seg.data).float().mean() > 0.999
    torch.testing.assert_close(compiled.seg_logits.data, exact.seg_logits.data, atol=1e-4, rtol=1e-4)
    output = run_tool('tools/test.py', SYNTHETIC['sclip'], '--compile', '--work-dir', str(tmp_path / 'w'),
                      '--cfg-options', f'test_dataloader.dataset.data_root={small_synthetic_world}',
                      'test_dataloader.num_workers=0', 'test_dataloader.persistent_workers=False')
    assert 'first inference step with torch.compile' in output and 'mIoU' in output
