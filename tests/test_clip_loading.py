import open_clip
import pytest
import torch

from clipdense.models.clip import CLIPLoadError, build_clip, is_openai_state_dict
from conftest import TINY_VIT, make_openai_state_dict


def test_open_clip_name_random_weights_is_fp32_eval():
    model = build_clip('test-tiny-vit', None)
    assert not model.training
    assert all(p.dtype == torch.float32 for p in model.parameters())


@pytest.mark.parametrize('width,layers,patch,grid,zip_format', [(64, 2, 8, 4, True), (128, 3, 16, 3, True),
                                                                (64, 2, 8, 4, False)])
def test_openai_state_dict_any_size_is_loaded_exactly(tmp_path, width, layers, patch, grid, zip_format):
    """Zip files are mapped, not read; files in torch's legacy format are read."""
    state_dict = make_openai_state_dict(width=width, layers=layers, patch=patch, grid=grid)
    path = tmp_path / 'clip.pt'
    torch.save(state_dict, path, _use_new_zipfile_serialization=zip_format)
    model = build_clip(None, str(path))
    assert model.visual.transformer.width == width
    assert len(model.visual.transformer.resblocks) == layers
    assert model.visual.patch_size[0] == patch
    loaded = model.state_dict()
    for key, value in state_dict.items():
        assert torch.equal(loaded[key], value.float()), key  # fp32 tensors survive open_clip's fp16 builder


def test_openai_torchscript_archive_is_recognised(tmp_path, openai_state_dict_file):
    reference = build_clip(None, openai_state_dict_file)
    image = torch.randn(1, 3, 32, 32)
    traced = torch.jit.trace_module(reference, {'encode_image': image})
    path = tmp_path / 'release.pt'
    traced.save(str(path))
    # An OpenAI release is built from its tensors even when a (mismatching) open_clip name is configured.
    model = build_clip('ViT-B-16', str(path))
    assert torch.allclose(model.encode_image(image), reference.encode_image(image), atol=1e-6)


def test_open_clip_checkpoint_with_name(tmp_path):
    source = build_clip('test-tiny-rn', None)
    path = tmp_path / 'rn.pt'
    torch.save({'epoch': 3, 'state_dict': {f'module.{k}': v for k, v in source.state_dict().items()}}, path)
    model = build_clip('test-tiny-rn', str(path))
    image = torch.randn(2, 3, 64, 64)
    assert torch.equal(model.encode_image(image), source.encode_image(image))


def test_unknown_model_name_lists_close_matches():
    with pytest.raises(CLIPLoadError, match=r"ViT-B-61.*Close matches: .*ViT-B-16"):
        build_clip('ViT-B-61', None)


def test_unknown_tag_names_model_tag_and_local_file():
    with pytest.raises(CLIPLoadError, match=r"'not-a-tag'.*'ViT-B-16'.*openai.*model\.clip\.pretrained=/path"):
        build_clip('ViT-B-16', 'not-a-tag')


def test_download_failure_says_how_to_use_a_local_file(monkeypatch):
    # The test never reaches the network: open_clip's download is replaced by the failure it raises offline.
    def offline(*args, **kwargs):
        raise RuntimeError("Failed to download weights for tag 'openai': connection refused")

    monkeypatch.setattr(open_clip, 'create_model', offline)
    with pytest.raises(CLIPLoadError, match=r"could not get pretrained weights 'openai' for CLIP 'RN50'.*"
                                            r"model\.clip\.pretrained=/path/to/weights\.pt"):
        build_clip('RN50', 'openai')


@pytest.fixture
def gelu_tiny_vit(monkeypatch):
    """'test-tiny-vit-gelu': the tiny ViT config with open_clip's default GELU, as ViT-B-16's."""
    from open_clip import factory
    gelu_config = {key: value for key, value in TINY_VIT.items() if key != 'quick_gelu'}
    monkeypatch.setitem(factory._MODEL_CONFIGS, 'test-tiny-vit-gelu', gelu_config)
    return 'test-tiny-vit-gelu'


@pytest.mark.parametrize('tag_quick_gelu', [True, False], ids=['openai-like', 'laion-like'])
def test_tags_get_the_activation_their_weights_were_trained_with(tmp_path, monkeypatch, gelu_tiny_vit,
                                                                 tag_quick_gelu):
    """open_clip builds ViT-B-16 + 'openai' with GELU and only warns; the tag's weights were trained with QuickGELU,
    which the model must use. A tag registered for the tiny config, its 'download' a local file, runs the real path."""
    from open_clip import factory, pretrained
    from open_clip.transformer import QuickGELU
    path = tmp_path / 'weights.pt'
    source = build_clip(gelu_tiny_vit, None)
    torch.save(source.state_dict(), path)
    monkeypatch.setitem(pretrained._PRETRAINED, gelu_tiny_vit, {'fake': dict(url='', quick_gelu=tag_quick_gelu)})
    monkeypatch.setattr(factory, 'download_pretrained', lambda cfg, **kwargs: str(path))
    model = build_clip(gelu_tiny_vit, 'fake')
    activations = {type(module) for module in model.visual.modules()} & {QuickGELU, torch.nn.GELU}
    assert activations == ({QuickGELU} if tag_quick_gelu else {torch.nn.GELU})
    assert torch.equal(model.visual.conv1.weight, source.visual.conv1.weight)


@pytest.mark.parametrize('config,hint', [('test-tiny-vit-gelu', True), ('test-tiny-vit', False)])
def test_state_dict_with_a_gelu_name_says_how_to_get_openais_activation(tmp_path, monkeypatch, gelu_tiny_vit,
                                                                         config, hint):
    """OpenAI's layout is open_clip's too, so a state dict loaded under a GELU name (ViT-B-16) may be OpenAI's
    weights on the wrong activation: the log line says which activation was built and how to get QuickGELU."""
    from clipdense.models.clip import loading
    path = tmp_path / 'weights.pt'
    torch.save(build_clip(config, None).state_dict(), path)
    messages = []
    monkeypatch.setattr(loading, 'print_log', lambda message, **kwargs: messages.append(message))
    build_clip(config, str(path))
    assert len(messages) == 1 and f"CLIP: {config} with weights from {path}" in messages[0]
    assert ('GELU' in messages[0] and 'model.clip.name=None' in messages[0]) == hint


def test_missing_file():
    with pytest.raises(CLIPLoadError, match='not found.*/nowhere/ViT-B-16.pt'):
        build_clip('ViT-B-16', '/nowhere/ViT-B-16.pt')


def test_file_that_does_not_fit_the_name(openai_state_dict_file):
    with pytest.raises(CLIPLoadError, match=r"(?s)does not fit open_clip architecture 'test-tiny-rn'.*name=None"):
        build_clip('test-tiny-rn', openai_state_dict_file)


def test_non_clip_file_without_name(tmp_path):
    path = tmp_path / 'other.pt'
    torch.save({'weight': torch.zeros(2)}, path)
    with pytest.raises(CLIPLoadError, match='not an OpenAI-format CLIP state dict'):
        build_clip(None, str(path))


def test_tag_without_name():
    with pytest.raises(CLIPLoadError, match='needs an architecture'):
        build_clip(None, 'openai')


def test_openai_layout_detection():
    assert is_openai_state_dict(make_openai_state_dict())
    assert not is_openai_state_dict(open_clip.create_model('test-tiny-convnext').state_dict())
