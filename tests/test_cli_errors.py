"""What a user sees when they misuse the command-line tools: one line on stderr naming the bad input and the fix,
exit status 2, no traceback. The tools' ``__main__`` runs in this process (importing them in a subprocess costs
~20 s each); one slow test runs the demo as a real subprocess.

Also: open_clip's "initialized randomly" warning is not shown when clipdense loads the weights itself, and a long
vocabulary encoding shows a progress bar."""
import itertools
import logging
import os
import os.path as osp
import runpy
import subprocess
import sys
import textwrap

import cv2
import numpy as np
import pytest
import torch
from mmengine.logging import MMLogger

from clipdense.datasets.writers import write_ade20k
from conftest import make_openai_state_dict

ROOT = osp.dirname(osp.dirname(osp.abspath(__file__)))
DEMO, TRAIN, TEST = 'demo/image_demo.py', 'tools/train.py', 'tools/test.py'
SCLIP_TINY = osp.join(ROOT, 'configs/sclip/sclip_clipdense-tiny_synthetic-world.py')
SMALL_VOCAB = 'red circle,blue square'
_logger_names = itertools.count()


@pytest.fixture(autouse=True)
def in_tmp_dir(tmp_path, monkeypatch):
    """Default outputs (outputs/, work_dirs/) and the configs' relative data roots resolve under tmp_path."""
    monkeypatch.chdir(tmp_path)


def reattach_closed_log_streams() -> None:
    """Loggers made by earlier tests of this process may hold a stream pytest has closed since; a message sent
    through one (a late log line of an object collected during the tool's run) prints a '--- Logging error ---'
    traceback that a user's fresh process cannot show. Such handlers write to this test's streams: an MMLogger's
    to stdout, where mmengine puts its log (the Runner reuses an earlier test's logger when both started in the
    same second, as its name holds the time to the second), any other to stderr."""
    loggers = [logging.getLogger(), *MMLogger._instance_dict.values(),
               *(logger for logger in logging.Logger.manager.loggerDict.values() if isinstance(logger, logging.Logger))]
    for logger in loggers:
        stream = sys.stdout if isinstance(logger, MMLogger) else sys.stderr
        for handler in logger.handlers:
            if type(handler) is logging.StreamHandler and getattr(handler.stream, 'closed', False):
                handler.stream = stream  # not setStream: it flushes the closed stream


@pytest.fixture
def user_error(monkeypatch, capfd):
    """Runs a tool's ``__main__`` with the given arguments; returns its one stderr line after checking the exit
    status (2), that stderr holds only that line and that nothing printed a traceback."""

    def run(script, *args):
        # mmengine's 'current' logger writes to the sys.stdout of its creation: make it this test's.
        MMLogger.get_instance(f'test_cli_errors-{next(_logger_names)}')
        reattach_closed_log_streams()
        monkeypatch.setattr(sys, 'argv', [script, *map(str, args)])
        with pytest.raises(SystemExit) as exit_info:
            runpy.run_path(osp.join(ROOT, script), run_name='__main__')
        out, err = capfd.readouterr()
        assert exit_info.value.code == 2, out[-3000:] + err[-3000:]
        assert 'Traceback' not in out + err, out[-3000:] + err[-3000:]
        lines = [line for line in err.splitlines() if line.strip()]
        assert len(lines) == 1 and lines[0].startswith('error: '), err[-3000:]
        return lines[0]

    return run


@pytest.fixture
def image_file(tmp_path):
    path = tmp_path / 'scene.png'
    cv2.imwrite(str(path), np.random.RandomState(0).randint(0, 255, (48, 64, 3), dtype=np.uint8))
    return str(path)


@pytest.fixture
def corrupt_file(tmp_path):
    path = tmp_path / 'corrupt.pt'
    path.write_bytes(np.random.RandomState(0).bytes(4096))
    return str(path)


@pytest.fixture(scope='module')
def trainable(tmp_path_factory):
    """A CLIP-FCN config on a tiny OpenAI-format CLIP and a 2+1-image ADE20K-format dataset."""
    folder = tmp_path_factory.mktemp('trainable')
    rng = np.random.RandomState(0)
    for split, count in (('training', 2), ('validation', 1)):
        write_ade20k(str(folder / 'ade'), split, [
            (f'{split}_{index}', rng.randint(0, 255, (32, 32, 3)).astype(np.uint8),
             rng.randint(0, 5, (32, 32)).astype(np.uint8)) for index in range(count)])
    clip_file = folder / 'tiny-openai.pt'
    torch.save(make_openai_state_dict(), clip_file)
    config = folder / 'tiny_clip-fcn_ade20k.py'
    config.write_text(textwrap.dedent(f"""
        _base_ = ['{ROOT}/configs/clip_fcn/clip-fcn_vit-b16_ade20k.py']
        model = dict(clip=dict(name=None, pretrained='{clip_file}'), templates='photo',
                     data_preprocessor=dict(size=(32, 32)),
                     decode_head=dict(in_channels=32, channels=16, embed_dim=32),
                     test_cfg=dict(mode='slide', crop_size=(32, 32), stride=(16, 16)))
        train_dataloader = dict(batch_size=1, num_workers=0, persistent_workers=False,
                                dataset=dict(data_root='{folder}/ade'))
        val_dataloader = dict(num_workers=0, persistent_workers=False, dataset=dict(data_root='{folder}/ade'))
        test_dataloader = val_dataloader
        train_cfg = dict(max_iters=2, val_interval=2)
    """))
    return str(config)


@pytest.fixture
def blocked_dir(tmp_path):
    """A folder that cannot be created, whoever runs the test (root included): its parent is a file."""
    blocker = tmp_path / 'a-file'
    blocker.write_text('not a folder')
    return str(blocker / 'out')


@pytest.fixture
def syntax_error_config(tmp_path):
    path = tmp_path / 'broken_config.py'
    path.write_text("model = dict(type='TrainingFreeSegmentor',\n")
    return str(path)


# ---- demo/image_demo.py ----

def test_demo_missing_image(user_error, tmp_path):
    line = user_error(DEMO, tmp_path / 'missing.png', SCLIP_TINY)
    assert 'image not found' in line and 'missing.png' in line


def test_demo_unreadable_image(user_error, tmp_path):
    text = tmp_path / 'x.png'
    text.write_text('this is text, not an image')
    line = user_error(DEMO, text, SCLIP_TINY)
    assert 'cannot read image' in line and 'x.png' in line


def test_demo_image_smaller_than_the_clip_patch(user_error, tmp_path):
    # Raised by the CLIP vision tower (ImageTooSmallError); the embedded CLIP's patch is 8 px.
    tiny = tmp_path / 'tiny.png'
    cv2.imwrite(str(tiny), np.zeros((4, 4, 3), np.uint8))
    line = user_error(DEMO, tiny, SCLIP_TINY, '--vocab', SMALL_VOCAB, '--out', tmp_path / 'out.png')
    assert 'smaller than the CLIP patch' in line and '4x4' in line


@pytest.mark.parametrize('args,expected', [
    (['--model', 'ViT-X-99'], ['ViT-X-99', 'Close matches']),
    (['--model', 'ViT-B-16', '--pretrained', 'not-a-tag'], ['not-a-tag', 'ViT-B-16']),
    (['--pretrained', '/nowhere/weights.pt'], ['/nowhere/weights.pt', 'not found']),
])
def test_demo_unknown_model_or_weights(user_error, image_file, tmp_path, args, expected):
    line = user_error(DEMO, image_file, SCLIP_TINY, '--out', tmp_path / 'out.png', *args)
    assert all(text in line for text in expected), line


def test_demo_corrupt_weights(user_error, image_file, corrupt_file, tmp_path):
    line = user_error(DEMO, image_file, SCLIP_TINY, '--pretrained', corrupt_file, '--out', tmp_path / 'out.png')
    assert 'cannot read CLIP weights' in line and corrupt_file in line


def test_demo_weights_of_another_architecture(user_error, image_file, openai_state_dict_file, tmp_path):
    line = user_error(DEMO, image_file, SCLIP_TINY, '--model', 'test-tiny-rn', '--pretrained',
                      openai_state_dict_file, '--out', tmp_path / 'out.png')
    assert 'does not fit' in line and 'test-tiny-rn' in line and openai_state_dict_file in line


def test_demo_file_that_is_not_a_clip(user_error, image_file, tmp_path):
    not_clip = tmp_path / 'not-clip.pt'
    torch.save({'weight': torch.ones(3)}, not_clip)
    line = user_error(DEMO, image_file, SCLIP_TINY, '--model', 'none', '--pretrained', not_clip,
                      '--out', tmp_path / 'out.png')
    assert 'not an OpenAI-format CLIP state dict' in line and str(not_clip) in line


@pytest.mark.parametrize('vocab,expected', [
    ('', 'the vocabulary is empty'),
    ('a,,b', 'empty name'),
    ('cat,cat', "duplicate class name 'cat'"),
    ('nowhere/classes.txt', 'vocabulary file not found: nowhere/classes.txt'),
])
def test_demo_bad_vocabulary(user_error, image_file, tmp_path, monkeypatch, vocab, expected):
    monkeypatch.setattr('clipdense.apis.init_model', fail_if_called)  # found before the CLIP loads
    line = user_error(DEMO, image_file, SCLIP_TINY, '--vocab', vocab, '--out', tmp_path / 'out.png')
    assert f'--vocab {vocab!r}' in line and expected in line


@pytest.mark.parametrize('name', ['blocked', 'overlay.xyz'])
def test_demo_unwritable_output(user_error, image_file, blocked_dir, tmp_path, monkeypatch, name):
    out = osp.join(blocked_dir, 'overlay.png') if name == 'blocked' else str(tmp_path / name)
    monkeypatch.setattr('clipdense.apis.init_model', fail_if_called)  # found before the model runs
    line = user_error(DEMO, image_file, SCLIP_TINY, '--out', out)
    assert '--out' in line and (blocked_dir in line if name == 'blocked' else 'overlay.xyz' in line)


def test_demo_output_that_fails_to_write_after_the_model_ran(user_error, image_file, tmp_path, monkeypatch):
    """A write that fails after the checks (a full disk) is one line naming --out, not a traceback."""
    monkeypatch.setattr('cv2.imwrite', lambda path, image: False)
    line = user_error(DEMO, image_file, SCLIP_TINY, '--vocab', SMALL_VOCAB, '--out', tmp_path / 'out.png')
    assert 'could not write the overlay' in line and '--out' in line and 'out.png' in line


def test_demo_missing_config(user_error, image_file, tmp_path):
    line = user_error(DEMO, image_file, tmp_path / 'no_such_config.py', '--out', tmp_path / 'out.png')
    assert 'config file not found' in line and 'no_such_config.py' in line


def test_demo_config_with_a_syntax_error(user_error, image_file, syntax_error_config, tmp_path):
    line = user_error(DEMO, image_file, syntax_error_config, '--out', tmp_path / 'out.png')
    assert 'cannot load config' in line and 'broken_config.py' in line and 'SyntaxError' in line


def test_demo_missing_checkpoint(user_error, image_file, tmp_path):
    line = user_error(DEMO, image_file, SCLIP_TINY, '--checkpoint', tmp_path / 'nowhere.pth',
                      '--out', tmp_path / 'out.png')
    assert 'checkpoint not found' in line and 'nowhere.pth' in line


def test_demo_corrupt_checkpoint(user_error, image_file, corrupt_file, tmp_path):
    line = user_error(DEMO, image_file, SCLIP_TINY, '--checkpoint', corrupt_file, '--vocab', SMALL_VOCAB,
                      '--out', tmp_path / 'out.png')
    assert 'cannot read checkpoint' in line and corrupt_file in line


@pytest.mark.skipif(torch.cuda.is_available(), reason='this machine has a GPU')
def test_demo_cuda_without_a_gpu(user_error, image_file, tmp_path):
    line = user_error(DEMO, image_file, SCLIP_TINY, '--device', 'cuda', '--out', tmp_path / 'out.png')
    assert "'cuda'" in line and 'no CUDA GPU' in line and '--device cpu' in line


def test_demo_unknown_cfg_options_key(user_error, image_file, tmp_path):
    line = user_error(DEMO, image_file, SCLIP_TINY, '--cfg-options', 'model.templats=photo',
                      '--out', tmp_path / 'out.png')
    assert 'model.templats' in line and 'model.templates' in line


def fail_if_called(*args, **kwargs):
    raise AssertionError('the model was built although the arguments were wrong')


@pytest.mark.slow
def test_demo_missing_image_end_to_end(tmp_path):
    result = subprocess.run([sys.executable, osp.join(ROOT, DEMO), str(tmp_path / 'missing.png'), SCLIP_TINY],
                            cwd=tmp_path, capture_output=True, text=True, timeout=300,
                            env=dict(os.environ, CLIPDENSE_CACHE=str(tmp_path / 'cache')))
    assert result.returncode == 2, result.stderr[-3000:]
    assert 'Traceback' not in result.stdout + result.stderr
    assert result.stderr.strip().splitlines()[-1] == f'error: image not found: {tmp_path / "missing.png"}: give ' \
                                                      'the path of an existing image file.'


# ---- tools/train.py and tools/test.py ----

@pytest.mark.parametrize('tool', [TRAIN, TEST])
def test_missing_config(user_error, tmp_path, tool):
    line = user_error(tool, tmp_path / 'no_such_config.py')
    assert 'config file not found' in line and 'no_such_config.py' in line


@pytest.mark.parametrize('tool', [TRAIN, TEST])
def test_config_with_a_syntax_error(user_error, syntax_error_config, tool):
    line = user_error(tool, syntax_error_config)
    assert 'cannot load config' in line and 'broken_config.py' in line


@pytest.mark.parametrize('tool,option,suggestion', [
    (TRAIN, 'train_cfg.max_iter=2', 'train_cfg.max_iters'),
    (TEST, 'test_dataloader.dataset.data_rot=/data', 'test_dataloader.dataset.data_root'),
])
def test_unknown_cfg_options_key(user_error, trainable, tool, option, suggestion):
    line = user_error(tool, trainable, '--cfg-options', option)
    assert option.split('=')[0] in line and suggestion in line


def test_train_missing_resume_checkpoint(user_error, trainable, tmp_path):
    line = user_error(TRAIN, trainable, '--resume', tmp_path / 'nowhere.pth')
    assert 'checkpoint not found' in line and 'nowhere.pth' in line and '--resume' in line


def test_train_corrupt_resume_checkpoint(user_error, trainable, corrupt_file):
    line = user_error(TRAIN, trainable, '--resume', corrupt_file)
    assert 'cannot read checkpoint' in line and corrupt_file in line


def test_test_missing_checkpoint(user_error, trainable, tmp_path):
    line = user_error(TEST, trainable, tmp_path / 'nowhere.pth')
    assert 'checkpoint not found' in line and 'nowhere.pth' in line


def test_test_corrupt_checkpoint(user_error, trainable, corrupt_file):
    line = user_error(TEST, trainable, corrupt_file)
    assert 'cannot read checkpoint' in line and corrupt_file in line


@pytest.mark.parametrize('tool,loader', [(TRAIN, 'train_dataloader'), (TRAIN, 'val_dataloader'),
                                         (TEST, 'test_dataloader')])
def test_missing_dataset_folder(user_error, trainable, tmp_path, tool, loader):
    missing = tmp_path / 'no-dataset'
    line = user_error(tool, trainable, '--cfg-options', f'{loader}.dataset.data_root={missing}')
    assert str(missing) in line and f'--cfg-options {loader}.dataset.data_root=' in line
    assert 'docs/datasets.md' in line


def test_test_missing_default_dataset(user_error):
    line = user_error(TEST, SCLIP_TINY)  # data/synthetic_world, relative to the (empty) working directory
    assert 'data/synthetic_world' in line and 'test_dataloader.dataset.data_root' in line


@pytest.mark.parametrize('tool', [TRAIN, TEST])
def test_unwritable_work_dir(user_error, trainable, blocked_dir, tool):
    line = user_error(tool, trainable, '--work-dir', blocked_dir)
    assert blocked_dir in line and '--work-dir' in line


@pytest.mark.parametrize('tool', [TRAIN, TEST])
@pytest.mark.parametrize('option,expected', [
    ('model.clip.name=ViT-X-99', 'ViT-X-99'),
    ('model.clip.pretrained=/nowhere/weights.pt', '/nowhere/weights.pt'),
])
def test_tools_unknown_model_or_weights(user_error, trainable, tool, option, expected):
    line = user_error(tool, trainable, '--cfg-options', option)
    assert expected in line


# ---- what users see while a model loads ----

def test_no_random_weights_warning_from_open_clip(caplog):
    from clipdense.models.clip import build_clip

    root = logging.getLogger()
    handlers, filters = list(root.handlers), list(root.filters)
    with caplog.at_level(logging.INFO):
        build_clip('test-tiny-vit', None)  # random weights: clipdense warns in its own words
        build_clip('clipdense-tiny', 'embedded')  # created by open_clip, loaded by clipdense
    assert not [record for record in caplog.records if 'initialized randomly' in record.getMessage()]
    assert root.handlers == handlers and root.filters == filters


def test_long_vocabulary_encoding_shows_progress(monkeypatch, capsys):
    import open_clip

    from clipdense.models.clip import text

    model = open_clip.create_model('test-tiny-vit')
    classifier = text.TextClassifier(model, templates=['a {}.', 'the {}.'], clip_name='test-tiny-vit',
                                     cache_dir=None, batch_size=2)
    classifier(['cat', 'dog', 'sofa'])
    assert 'ETA' not in capsys.readouterr().out  # a fraction of a second: no bar
    monkeypatch.setattr(text, 'PROGRESS_AFTER_SECONDS', 0.0)
    classifier(['tree', 'road', 'sky'])
    out = capsys.readouterr().out
    assert 'ETA' in out and '4/4' in out  # the 4 prompts after the first batch of 2


def test_vild_converter_on_a_missing_or_foreign_checkpoint(user_error, tmp_path):
    script = 'tools/model_converters/vild2clipdense.py'
    line = user_error(script, tmp_path / 'resnet50_vild', tmp_path / 'vild.pth')
    assert 'no TensorFlow checkpoint at' in line and 'PREFIX.index' in line
    (tmp_path / 'model.ckpt.index').write_bytes(b'\0' * 64)
    line = user_error(script, tmp_path / 'model.ckpt', tmp_path / 'vild.pth')
    assert 'is not a TensorFlow checkpoint index' in line
