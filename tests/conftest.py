"""Shared fixtures: tiny CLIP models (open_clip configs and OpenAI-format state dicts) and isolation of the
caches, so no test downloads anything or touches the user's cache."""
import datetime
import json
import os

os.environ.setdefault('HF_HUB_OFFLINE', '1')
# torch's OpenMP threads busy-wait by default; on 2 shared cores that slows every test many times over.
# (Read when torch loads, hence before the imports below.)
os.environ.setdefault('OMP_WAIT_POLICY', 'passive')
# `make test` runs TEST_WORKERS pytest-xdist workers; each takes one core (and so do the tools it starts): two
# single-threaded tests finish sooner than the same two in turn on both cores, whose small matrices split poorly.
if os.environ.get('PYTEST_XDIST_WORKER'):
    os.environ['OMP_NUM_THREADS'] = '1'

import open_clip  # noqa: E402
import pytest  # noqa: E402
import torch  # noqa: E402
from mmengine import DefaultScope  # noqa: E402

TINY_VIT = dict(embed_dim=32, quick_gelu=True,
                vision_cfg=dict(image_size=32, layers=2, width=64, patch_size=8, head_width=32),
                text_cfg=dict(context_length=77, vocab_size=49408, width=32, heads=2, layers=2))
TINY_RN = dict(embed_dim=32, quick_gelu=True,
               vision_cfg=dict(image_size=64, layers=[1, 1, 1, 1], width=16, head_width=16),
               text_cfg=dict(context_length=77, vocab_size=49408, width=32, heads=2, layers=1))
TINY_CONVNEXT = dict(embed_dim=32,
                     vision_cfg=dict(timm_model_name='convnext_atto', timm_model_pretrained=False, timm_pool='',
                                     timm_proj='linear', image_size=64),
                     text_cfg=dict(context_length=77, vocab_size=49408, width=32, heads=2, layers=1))
# Four blocks with 2 heads: enough to split CLIP for SAN (features, fusions, recognition blocks).
TINY_VIT4 = dict(embed_dim=32, quick_gelu=True,
                 vision_cfg=dict(image_size=32, layers=4, width=64, patch_size=8, head_width=32),
                 text_cfg=dict(context_length=77, vocab_size=49408, width=32, heads=2, layers=2))
TINY_CONFIGS = {'test-tiny-vit': TINY_VIT, 'test-tiny-vit4': TINY_VIT4, 'test-tiny-rn': TINY_RN,
                'test-tiny-convnext': TINY_CONVNEXT}


def pytest_collection_modifyitems(config, items):
    """The longest tests first (learning proofs, then the other slow ones), so that workers sharing the queue do
    not end on one of them while the other idles."""
    def cost_rank(item):
        if item.get_closest_marker('slow') is None:
            return 2
        return 0 if '_learns_' in item.name else 1
    items.sort(key=cost_rank)


@pytest.fixture(scope='session', autouse=True)
def tiny_clip_configs(tmp_path_factory):
    """Registers the tiny open_clip configs ``test-tiny-vit``, ``test-tiny-rn``, ``test-tiny-convnext``."""
    folder = tmp_path_factory.mktemp('clip_configs')
    for name, config in TINY_CONFIGS.items():
        (folder / f'{name}.json').write_text(json.dumps(config))
    open_clip.add_model_config(folder)
    return folder


@pytest.fixture(scope='session')
def synthetic_world_2000(tmp_path_factory):
    """The synthetic world the trained methods' learning proofs train on (2000 training scenes, 40 validation scenes,
    seed 0), written once per session."""
    from clipdense.datasets.synthetic import write_synthetic_world
    root = tmp_path_factory.mktemp('synthetic_world_2000')
    write_synthetic_world(str(root), num_train=2000, num_val=40, seed=0)
    return root


@pytest.fixture(scope='session')
def small_synthetic_world(tmp_path_factory):
    """A small synthetic world (12 training scenes, 3 validation scenes, seed 0) for runs of the tools."""
    from clipdense.datasets.synthetic import write_synthetic_world
    root = tmp_path_factory.mktemp('small_world')
    write_synthetic_world(str(root), num_train=12, num_val=3, seed=0)
    return root


@pytest.fixture
def clipdense_scope():
    """Build in clipdense's scope, as configs do with default_scope='clipdense' (a fresh, current instance)."""
    name = f'test-{datetime.datetime.now().strftime("%H%M%S%f")}'
    DefaultScope.get_instance(name, scope_name='clipdense')
    yield


@pytest.fixture(autouse=True)
def isolated_cache(tmp_path, monkeypatch):
    monkeypatch.setenv('CLIPDENSE_CACHE', str(tmp_path / 'clipdense-cache'))


def make_openai_state_dict(width=64, layers=2, patch=8, grid=4, text_width=64, text_layers=2, embed_dim=32,
                           seed=0):
    """An OpenAI-format ViT CLIP state dict of the given size, with random weights (OpenAI uses 64-wide heads,
    so widths are multiples of 64)."""
    torch.manual_seed(seed)
    model = open_clip.model.CLIP(
        embed_dim,
        vision_cfg=open_clip.model.CLIPVisionCfg(layers=layers, width=width, patch_size=patch,
                                                 image_size=patch * grid),
        text_cfg=open_clip.model.CLIPTextCfg(context_length=77, vocab_size=49408, width=text_width,
                                             heads=text_width // 64, layers=text_layers),
        quick_gelu=True)
    return model.state_dict()


@pytest.fixture
def openai_state_dict_file(tmp_path):
    path = tmp_path / 'tiny-openai.pt'
    torch.save(make_openai_state_dict(), path)
    return str(path)
