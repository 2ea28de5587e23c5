import os
import subprocess
import sys

import cv2
import numpy as np
import pytest
import torch

from clipdense.apis import inference_model, init_model

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
SCLIP_ADE = os.path.join(ROOT, 'configs/sclip/sclip_vit-b16_ade20k.py')
TINY = {'model.clip.name': 'test-tiny-vit', 'model.clip.pretrained': None, 'model.templates': 'photo'}


@pytest.fixture(scope='module')
def model():
    torch.manual_seed(0)
    return init_model(SCLIP_ADE, cfg_options=TINY)


def test_init_model_applies_cfg_options(model):
    assert model.encoder.visual.transformer.width == 64
    assert len(model.dataset_meta['classes']) == 150
    assert not model.training


def test_inference_on_path_array_and_list(model, tmp_path):
    image = np.random.RandomState(0).randint(0, 255, (60, 80, 3), dtype=np.uint8)
    path = tmp_path / 'image.png'
    cv2.imwrite(str(path), image)
    from_path = inference_model(model, str(path))
    from_array = inference_model(model, image)
    assert from_path.pred_sem_seg.data.shape == (1, 60, 80)
    assert torch.equal(from_path.pred_sem_seg.data, from_array.pred_sem_seg.data)
    both = inference_model(model, [image, str(path)])
    assert len(both) == 2


def test_vocabulary_override(model):
    image = np.random.RandomState(1).randint(0, 255, (40, 40, 3), dtype=np.uint8)
    result = inference_model(model, image, vocabulary='cat,dog;puppy,sofa')
    assert result.seg_logits.data.shape[0] == 3
    assert set(result.pred_sem_seg.data.unique().tolist()) <= {0, 1, 2}
    assert model.dataset_meta['classes'] == ('cat', 'dog', 'sofa')


def test_grayscale_image(model):
    gray = np.random.RandomState(2).randint(0, 255, (40, 50), dtype=np.uint8)
    assert inference_model(model, gray).pred_sem_seg.data.shape == (1, 40, 50)


def test_config_typo_is_reported(tmp_path):
    with pytest.raises(KeyError, match='SCLIPLastBlok'):
        init_model(SCLIP_ADE, cfg_options=dict(TINY, **{'model.last_block.type': 'SCLIPLastBlok'}))


def test_demo_command_line(tmp_path, openai_state_dict_file):
    image = tmp_path / 'scene.png'
    cv2.imwrite(str(image), np.random.RandomState(3).randint(0, 255, (48, 64, 3), dtype=np.uint8))
    out = tmp_path / 'overlay.png'
    result = subprocess.run(
        [sys.executable, 'demo/image_demo.py', str(image), SCLIP_ADE, '--model', 'none', '--pretrained',
         openai_state_dict_file, '--vocab', 'person;man;woman,dog,sofa', '--out', str(out)],
        cwd=ROOT, capture_output=True, text=True, timeout=300,
        env=dict(os.environ, CLIPDENSE_CACHE=str(tmp_path / 'cache')))
    assert result.returncode == 0, result.stderr[-3000:]
    assert 'overlay written to' in result.stdout
    overlay = cv2.imread(str(out))
    assert overlay.shape[0] >= 48 and overlay.shape[1] > 64  # legend panel on the right (taller if long)


def test_demo_reports_an_unreadable_image(tmp_path):
    broken = tmp_path / 'broken.jpg'
    broken.write_bytes(b'\x00' * 10)
    result = subprocess.run([sys.executable, 'demo/image_demo.py', str(broken), SCLIP_ADE], cwd=ROOT,
                            capture_output=True, text=True, timeout=300)
    assert result.returncode != 0
    assert 'cannot read image' in result.stderr and 'broken.jpg' in result.stderr
