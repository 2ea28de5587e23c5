"""Detection inference (``clipdense.apis.inference_detector``), the drawing of detections and
demo/detection_demo.py, on the untrained tiny ViLD of the synthetic world: its random heads still output boxes."""
import itertools
import os
import os.path as osp
import runpy
import subprocess
import sys

import cv2
import numpy as np
import pytest
import torch
from mmdet.structures import DetDataSample
from mmengine.logging import MMLogger

from clipdense.apis import NotADetectorError, detection_test_pipeline, inference_detector, init_model
from clipdense.datasets.synthetic import write_synthetic_world
from clipdense.visualization import draw_detections

ROOT = osp.dirname(osp.dirname(osp.abspath(__file__)))
DEMO = 'demo/detection_demo.py'
VILD_TINY = osp.join(ROOT, 'configs/vild/vild-text_r18-tiny-fpn_clipdense-tiny_synthetic-world.py')
SCLIP_TINY = osp.join(ROOT, 'configs/sclip/sclip_clipdense-tiny_synthetic-world.py')
THREE_CLASSES = 'red circle,blue square;blue box,green triangle'
NO_TEXT_CACHE = {'model.text_cache_dir': None}  # module-scoped models must not write to the user's cache
_logger_names = itertools.count()


@pytest.fixture(scope='module')
def detector():
    torch.manual_seed(0)
    return init_model(VILD_TINY, cfg_options=NO_TEXT_CACHE)


@pytest.fixture(scope='module')
def scene(tmp_path_factory):
    """The path of a synthetic-world scene (128-224 px, colour shapes on noise)."""
    root = tmp_path_factory.mktemp('world')
    write_synthetic_world(str(root), num_train=2, num_val=2, seed=0)
    return str(root / 'images' / 'validation' / sorted(os.listdir(root / 'images' / 'validation'))[0])


def same_detections(first: DetDataSample, second: DetDataSample) -> bool:
    a, b = first.pred_instances, second.pred_instances
    return all(torch.equal(a.get(key), b.get(key)) for key in ('bboxes', 'labels', 'scores', 'masks'))


# ---- inference_detector ----

def test_path_and_array_give_the_same_detections(detector, scene):
    from_path = inference_detector(detector, scene)
    from_array = inference_detector(detector, cv2.imread(scene))
    assert isinstance(from_path, DetDataSample) and len(from_path.pred_instances) > 0
    assert same_detections(from_path, from_array)
    assert from_path.img_path == scene and from_array.img_path is None


def test_a_list_gives_one_result_per_image(detector, scene):
    image = cv2.imread(scene)
    results = inference_detector(detector, [scene, image[:, ::-1]])
    assert isinstance(results, list) and len(results) == 2
    assert same_detections(results[0], inference_detector(detector, scene))  # unaffected by the other image


def test_boxes_and_masks_are_in_original_pixels(detector):
    # 60x80 is enlarged to 168x224 by the test pipeline: unscaled boxes would reach far outside the image.
    image = np.random.RandomState(0).randint(0, 255, (60, 80, 3), dtype=np.uint8)
    result = inference_detector(detector, image)
    boxes = result.pred_instances.bboxes
    assert len(boxes) > 0 and result.ori_shape == (60, 80)
    assert (boxes >= 0).all() and (boxes[:, [0, 2]] <= 80).all() and (boxes[:, [1, 3]] <= 60).all()
    # The reference's box coder counts sizes as x2 - x1 + 1, so a box shrunk under one pixel comes out with x2 below
    # x1 by less than a pixel (proposals clipped to an empty box at the border give some): the reference keeps them.
    pixel = 60 / 168
    assert (boxes[:, 2] > boxes[:, 0] - pixel).all() and (boxes[:, 3] > boxes[:, 1] - pixel).all()
    assert result.pred_instances.masks.shape == (len(boxes), 60, 80)


def test_set_vocabulary(detector, scene):
    original = detector.dataset_meta['classes']
    try:
        detector.set_vocabulary(THREE_CLASSES)
        assert detector.dataset_meta['classes'] == ('red circle', 'blue square', 'green triangle')
        labels = inference_detector(detector, scene).pred_instances.labels
        assert len(labels) > 0 and labels.max() < 3
    finally:
        detector.set_vocabulary(list(original))
    assert len(detector.dataset_meta['classes']) == 64


def test_vocabulary_from_cfg_options(scene):
    model = init_model(VILD_TINY, cfg_options=dict(NO_TEXT_CACHE, **{'model.vocabulary': ['cat', ['dog', 'puppy']]}))
    assert model.dataset_meta['classes'] == ('cat', 'dog')
    assert inference_detector(model, scene).pred_instances.labels.max() < 2


def test_test_pipeline_loads_from_arrays_without_annotations(detector):
    names = [type(step).__name__ for step in detection_test_pipeline(detector.cfg).transforms]
    assert names[0] == 'LoadImageFromNDArray' and 'LoadAnnotations' not in names
    assert names[-1] == 'PackDetInputs'


def test_a_segmentation_model_is_refused():
    with pytest.raises(NotADetectorError, match='not a detector'):
        inference_detector(torch.nn.Linear(2, 2), np.zeros((8, 8, 3), np.uint8))


# ---- draw_detections ----

def test_draw_detections_boxes_labels_and_masks():
    image = np.full((50, 70, 3), 128, np.uint8)
    masks = np.zeros((2, 50, 70), bool)
    masks[1, 30:40, 40:60] = True
    drawn = draw_detections(image, torch.tensor([[5., 20., 30., 45.], [40., 30., 60., 40.]]), [0, 2], [0.9, 0.4],
                            ['a', 'b', 'c'], masks=masks)
    assert drawn.shape == image.shape and drawn.dtype == np.uint8
    assert (drawn != image).any(axis=2).sum() > 100
    assert (drawn[35, 50] != image[35, 50]).any()  # inside the mask, away from box and label
    assert np.array_equal(image, np.full((50, 70, 3), 128, np.uint8))  # drawn on a copy
    assert np.array_equal(draw_detections(image, np.zeros((0, 4)), [], [], ['a']), image)
    with pytest.raises(ValueError, match='class names'):
        draw_detections(image, [[0, 0, 5, 5]], [3], [0.5], ['a', 'b'])


# ---- demo/detection_demo.py ----

def test_demo_end_to_end(detector, scene, tmp_path):
    checkpoint = tmp_path / 'vild.pth'
    torch.save({'state_dict': detector.state_dict(), 'meta': {}}, checkpoint)
    out = tmp_path / 'drawn' / 'detections.png'
    result = subprocess.run(
        [sys.executable, DEMO, scene, VILD_TINY, '--checkpoint', str(checkpoint), '--vocab', THREE_CLASSES,
         '--score-thr', '0', '--max-dets', '5', '--out', str(out)],
        cwd=ROOT, capture_output=True, text=True, timeout=300, env=dict(os.environ, OMP_NUM_THREADS='1'))
    assert result.returncode == 0, result.stderr[-3000:]
    assert '5 detections drawn' in result.stdout and f'detections written to {out}' in result.stdout
    original, drawn = cv2.imread(scene), cv2.imread(str(out))
    assert drawn is not None and drawn.shape == original.shape
    assert (drawn != original).any()


@pytest.fixture
def user_error(monkeypatch, capfd, tmp_path):
    """Runs the demo's ``__main__`` in this process (a subprocess would import torch again, ~10 s); returns its
    one stderr line after checking the exit status (2) and that nothing printed a traceback."""

    def run(*args):
        # mmengine's 'current' logger writes to the sys.stdout of its creation: make it this test's.
        MMLogger.get_instance(f'test_detection_demo-{next(_logger_names)}')
        monkeypatch.chdir(tmp_path)  # the default output folder lands here
        monkeypatch.setattr(sys, 'argv', [DEMO, *map(str, args)])
        with pytest.raises(SystemExit) as exit_info:
            runpy.run_path(osp.join(ROOT, DEMO), run_name='__main__')
        out, err = capfd.readouterr()
        assert exit_info.value.code == 2, out[-3000:] + err[-3000:]
        assert 'Traceback' not in out + err, out[-3000:] + err[-3000:]
        lines = [line for line in err.splitlines() if line.strip()]
        assert len(lines) == 1 and lines[0].startswith('error: '), err[-3000:]
        return lines[0]

    return run


def fail_if_called(*args, **kwargs):
    raise AssertionError('the model was built although the arguments were wrong')


@pytest.fixture
def no_model(monkeypatch):
    """Mistakes the demo finds before it builds the model."""
    monkeypatch.setattr('clipdense.apis.init_model', fail_if_called)


@pytest.fixture
def blocked_dir(tmp_path):
    """A folder that cannot be created, whoever runs the test (root included): its parent is a file."""
    blocker = tmp_path / 'a-file'
    blocker.write_text('not a folder')
    return str(blocker / 'out')


def test_demo_missing_image(user_error, no_model, tmp_path):
    line = user_error(tmp_path / 'missing.png', VILD_TINY)
    assert 'image not found' in line and 'missing.png' in line


def test_demo_unreadable_image(user_error, no_model, tmp_path):
    text = tmp_path / 'x.png'
    text.write_text('this is text, not an image')
    line = user_error(text, VILD_TINY)
    assert 'cannot read image' in line and 'x.png' in line


def test_demo_missing_config(user_error, scene, tmp_path):
    line = user_error(scene, tmp_path / 'no_such_config.py')
    assert 'config file not found' in line and 'no_such_config.py' in line


def test_demo_missing_checkpoint(user_error, scene, tmp_path):
    line = user_error(scene, VILD_TINY, '--checkpoint', tmp_path / 'nowhere.pth')
    assert 'checkpoint not found' in line and 'nowhere.pth' in line


@pytest.mark.parametrize('vocab,expected', [('', 'the vocabulary is empty'), (' , ', 'empty name')])
def test_demo_empty_vocabulary(user_error, no_model, scene, vocab, expected):
    line = user_error(scene, VILD_TINY, '--vocab', vocab)
    assert f'--vocab {vocab!r}' in line and expected in line


@pytest.mark.parametrize('value', ['-0.1', '1.5'])
def test_demo_score_threshold_outside_0_1(user_error, no_model, scene, value):
    line = user_error(scene, VILD_TINY, '--score-thr', value)
    assert f'--score-thr {float(value)}' in line and 'between 0 and 1' in line


def test_demo_no_detections_to_draw(user_error, no_model, scene):
    line = user_error(scene, VILD_TINY, '--max-dets', '0')
    assert '--max-dets 0' in line and 'positive' in line


@pytest.mark.parametrize('name', ['blocked', 'detections.xyz'])
def test_demo_unwritable_output(user_error, no_model, scene, blocked_dir, tmp_path, name):
    out = osp.join(blocked_dir, 'detections.png') if name == 'blocked' else str(tmp_path / name)
    line = user_error(scene, VILD_TINY, '--out', out)
    assert '--out' in line and (blocked_dir in line if name == 'blocked' else 'detections.xyz' in line)


def test_demo_segmentation_config(user_error, scene):
    line = user_error(scene, SCLIP_TINY, '--vocab', THREE_CLASSES)
    assert 'not a detector' in line and 'image_demo.py' in line
