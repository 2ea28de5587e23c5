"""TFResizeAndPad against tensorflow/tpu's own test-time resizing (tests/data/tf_resize/resized.npz, written by the
reference's input_utils.resize_and_crop_image through TensorFlow 2.21 with the script beside it)."""
import os

import mmcv
import numpy as np
import pytest
import torch
from mmengine.config import Config

from clipdense.datasets.transforms import TFResizeAndPad
from tool_runs import ROOT

REFERENCE = np.load(os.path.join(os.path.dirname(__file__), 'data', 'tf_resize', 'resized.npz'))
CASES = range(3)  # downscaling a wide and a tall image, upscaling


@pytest.mark.parametrize('case', CASES)
def test_resize_and_pad_is_the_references(case):
    image, expected, info = (REFERENCE[f'{key}_{case}'] for key in ('image', 'resized', 'info'))
    results = TFResizeAndPad(size=expected.shape[:2], pad_val=(0, 0, 0))(dict(img=image.copy()))
    # The reference resized x / 255 * 255 (TF's uint8-to-float conversion), one float32 rounding away from x.
    np.testing.assert_allclose(results['img'], expected, rtol=0, atol=1e-4)
    assert results['img_shape'] == expected.shape[:2] == tuple(info[1])  # the reference's image_info[1]
    np.testing.assert_allclose(results['scale_factor'], info[2][::-1], rtol=1e-6)  # (x, y) of its (y, x)
    # mmcv's bilinear resize (half-pixel centres) is not the reference's.
    new_w, new_h = results['scale']
    assert not np.allclose(mmcv.imresize(image.astype(np.float32), (new_w, new_h)), expected[:new_h, :new_w],
                           atol=1)


def test_padding_and_boxes():
    image = np.full((30, 60, 3), 7, np.uint8)
    boxes = torch.tensor([[6.0, 3.0, 30.0, 15.0]])
    from mmdet.structures.bbox import HorizontalBoxes
    results = TFResizeAndPad(size=(64, 64), pad_val=(1, 2, 3))(dict(img=image, gt_bboxes=HorizontalBoxes(boxes)))
    assert results['img'].dtype == np.float32 and results['img'].shape == (64, 64, 3)
    assert (results['img'][:32, :64] == 7).all()  # 30 x 60 -> 32 x 64 (round(30 x 64 / 60) = 32)
    assert (results['img'][32:] == np.array([1, 2, 3], np.float32)).all()
    torch.testing.assert_close(results['gt_bboxes'].tensor, boxes * torch.tensor([64 / 60, 32 / 30] * 2))
    with pytest.raises(ValueError, match='load the annotations after it'):
        TFResizeAndPad(size=(64, 64), pad_val=(0, 0, 0))(dict(img=image, gt_masks=object()))
    with pytest.raises(ValueError, match='size must be'):
        TFResizeAndPad(size=(64, ), pad_val=(0, 0, 0))


@pytest.mark.parametrize('config', ['vild_r50_fpn_lsj-180k_ov-lvis.py', 'vild-ensemble_r50_fpn_lsj-180k_ov-coco.py'])
def test_vild_test_input_is_the_references(config):
    """ViLD's test pipeline through its data preprocessor: the image scaled into 1024 x 1024 as the reference does,
    the padding 0 after normalisation (the reference pads the normalised image with zeros), boxes clipped to the
    padded square (img_shape)."""
    from mmengine.dataset import Compose

    from clipdense.registry import MODELS, register_all_modules
    register_all_modules()
    cfg = Config.fromfile(os.path.join(ROOT, 'configs/vild', config))
    pipeline = [step for step in cfg.test_dataloader.dataset.pipeline if 'LoadAnnotations' not in step.type]
    pipeline[0] = dict(type='LoadImageFromNDArray')
    image = np.random.default_rng(0).integers(0, 256, (300, 200, 3), dtype=np.uint8)
    data = Compose(pipeline)(dict(img=image, img_id=0, img_path=''))
    preprocessor = MODELS.build(cfg.model.data_preprocessor)
    batch = preprocessor(dict(inputs=[data['inputs']], data_samples=[data['data_samples']]), training=False)
    inputs, sample = batch['inputs'][0], batch['data_samples'][0]
    assert inputs.shape == (3, 1024, 1024) and sample.img_shape == (1024, 1024)
    new_w = int(np.round(200 * np.float32(1024 / 300)))
    assert (inputs[:, :, new_w:] == 0).all() and inputs[:, :, :new_w].abs().sum(0).gt(0).all()
    rgb = image[..., ::-1].astype(np.float32)  # the loader's BGR, back to RGB
    mean, std = np.array([123.675, 116.28, 103.53], np.float32), np.array([58.395, 57.12, 57.375], np.float32)
    expected = (TFResizeAndPad((1024, 1024), (0, 0, 0))(dict(img=rgb))['img'] - mean) / std
    torch.testing.assert_close(inputs[:, :, :new_w], torch.from_numpy(expected[:, :new_w]).permute(2, 0, 1))
