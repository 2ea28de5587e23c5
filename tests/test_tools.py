"""tools/train.py and tools/test.py end to end, through their command lines, on a tiny ADE20K-format dataset
and a tiny OpenAI-format CLIP: train → checkpoint → --resume → test prints an mIoU table; 2 processes (gloo)."""
import os
import re
import subprocess
import sys
import textwrap

import numpy as np
import pytest
import torch

from clipdense.datasets.writers import write_ade20k
from clipdense.engine.checkpoint import load_local_checkpoint
from conftest import make_openai_state_dict

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))


def tiny_ade20k(root, num_train=4, num_val=2, size=48, seed=0):
    """Images with a few coloured rectangles whose labels are ADE classes 1..4 (raw, 0 = other)."""
    rng = np.random.RandomState(seed)

    def samples(count, prefix):
        for index in range(count):
            image = rng.randint(0, 60, (size, size, 3)).astype(np.uint8)
            labels = np.zeros((size, size), np.uint8)
            for label in range(1, 5):
                y, x = rng.randint(0, size - 16, 2)
                image[y:y + 16, x:x + 16] = np.array([60 * label, 255 - 50 * label, 30 * label], np.uint8)
                labels[y:y + 16, x:x + 16] = label
            yield f'{prefix}_{index:03d}', image, labels

    write_ade20k(str(root), 'training', samples(num_train, 'train'))
    write_ade20k(str(root), 'validation', samples(num_val, 'val'))


@pytest.fixture(scope='module')
def tiny_experiment(tmp_path_factory):
    folder = tmp_path_factory.mktemp('experiment')
    tiny_ade20k(folder / 'ade')
    clip_file = folder / 'tiny-openai.pt'
    torch.save(make_openai_state_dict(), clip_file)
    config = folder / 'tiny_clip-fcn_ade20k.py'
    config.write_text(textwrap.dedent(f"""
        _base_ = ['{ROOT}/configs/clip_fcn/clip-fcn_vit-b16_ade20k.py']
        model = dict(clip=dict(name=None, pretrained='{clip_file}'), templates='photo',
                     data_preprocessor=dict(size=(32, 32)),
                     decode_head=dict(in_channels=32, channels=16, embed_dim=32),
                     test_cfg=dict(mode='slide', crop_size=(32, 32), stride=(16, 16)))
        train_pipeline = [
            dict(type='LoadImageFromFile'),
            dict(type='LoadAnnotations', reduce_zero_label=True),
            dict(type='RandomCrop', crop_size=(32, 32)),
            dict(type='RandomFlip', prob=0.5),
            dict(type='PackSegInputs'),
        ]
        test_pipeline = [
            dict(type='LoadImageFromFile'),
            dict(type='LoadAnnotations', reduce_zero_label=True),
            dict(type='PackSegInputs'),
        ]
        train_dataloader = dict(batch_size=2, num_workers=0, persistent_workers=False,
                                dataset=dict(data_root='{folder}/ade', pipeline=train_pipeline))
        val_dataloader = dict(num_workers=0, persistent_workers=False,
                              dataset=dict(data_root='{folder}/ade', pipeline=test_pipeline))
        test_dataloader = val_dataloader
        train_cfg = dict(max_iters=4, val_interval=2)
        param_scheduler = [dict(type='PolyLR', eta_min=1e-6, power=0.9, begin=0, end=4, by_epoch=False)]
        default_hooks = dict(logger=dict(interval=1), checkpoint=dict(interval=2))
        env_cfg = dict(cudnn_benchmark=False, mp_cfg=dict(mp_start_method='fork', opencv_num_threads=0),
                       dist_cfg=dict(backend='gloo'))
    """))
    return folder, config


def run(args, cwd, extra_env=None):
    env = dict(os.environ, PYTHONUNBUFFERED='1', OMP_NUM_THREADS='1', PYTHON=sys.executable, **(extra_env or {}))
    result = subprocess.run(args, cwd=cwd, env=env, capture_output=True, text=True, timeout=600)
    output = result.stdout + result.stderr
    assert result.returncode == 0, output[-4000:]
    return output


def test_train_resume_test(tiny_experiment):
    folder, config = tiny_experiment
    work_dir = folder / 'work'
    # --amp without a GPU: bf16 autocast (CPUAutocastOptimWrapper).
    output = run([sys.executable, 'tools/train.py', str(config), '--work-dir', str(work_dir), '--amp',
                  '--cfg-options', 'train_cfg.max_iters=2'], ROOT)
    assert 'CPUAutocastOptimWrapper' in output
    assert (work_dir / 'iter_2.pth').is_file()

    # --resume continues from iter_2 (loading mmengine's checkpoint under torch's weights_only default).
    output = run([sys.executable, 'tools/train.py', str(config), '--work-dir', str(work_dir), '--resume'], ROOT)
    assert re.search(r'resumed epoch: \d+, iter: 2', output), output[-3000:]
    assert (work_dir / 'iter_4.pth').is_file()
    resumed = load_local_checkpoint(str(work_dir / 'iter_4.pth'))
    assert resumed['meta']['iter'] == 4
    # The text tower the head was trained against is recorded (TextTowerHook).
    assert resumed['meta']['text_tower']['clip_name'] is None  # the config reads the architecture off the file
    assert len(resumed['meta']['text_tower']['fingerprint']) == 40

    output = run([sys.executable, 'tools/test.py', str(config), str(work_dir / 'iter_4.pth'),
                  '--work-dir', str(folder / 'test')], ROOT)
    assert re.search(r'\|\s*Class\s*\|\s*IoU\s*\|\s*Acc\s*\|', output), output[-3000:]
    assert re.search(r'mIoU: \d+\.\d+', output)


@pytest.mark.slow
def test_two_process_train_and_test(tiny_experiment):
    folder, config = tiny_experiment
    work_dir = folder / 'dist'
    output = run(['bash', 'tools/dist_train.sh', str(config), '2', '--work-dir', str(work_dir)], ROOT,
                 {'PORT': '29531'})
    assert 'process 0 of 2 communicates over gloo' in output  # rank 0 logs; the world has 2 processes
    assert (work_dir / 'iter_4.pth').is_file()
    output = run(['bash', 'tools/dist_test.sh', str(config), str(work_dir / 'iter_4.pth'), '2', '--work-dir',
                  str(folder / 'dist-test')], ROOT, {'PORT': '29532'})
    assert re.search(r'mIoU: \d+\.\d+', output)
