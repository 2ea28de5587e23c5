"""The one vocabulary path: a trained segmentor's test and training vocabularies, everything that follows from a
vocabulary kept in sync, training labels of unseen classes ignored, and the text tower recorded in checkpoints."""
import textwrap
from types import SimpleNamespace

import pytest
import torch
from mmengine.config import ConfigDict
from mmengine.structures import PixelData
from mmseg.structures import SegDataSample

from clipdense.apis import init_model
from clipdense.engine.hooks import TextTowerHook
from clipdense.models.clip import build_clip, text_tower_fingerprint
from clipdense.registry import MODELS

pytestmark = pytest.mark.usefixtures('clipdense_scope')

CLIP_MEAN, CLIP_STD = [122.771, 116.746, 104.094], [68.501, 66.632, 70.323]


TINY_MODEL = dict(
    type='CLIPEncoderDecoder',
    data_preprocessor=dict(type='SegDataPreProcessor', mean=CLIP_MEAN, std=CLIP_STD, bgr_to_rgb=True,
                           pad_val=0, seg_pad_val=255),
    clip=dict(name='test-tiny-vit', pretrained=None), templates='photo', vocabulary='cat,dog,sofa',
    backbone=dict(type='CLIPVisionBackbone'),
    decode_head=dict(type='TextClassifierHead', in_channels=32, in_index=-1, channels=16, embed_dim=32,
                     dropout_ratio=0.0, norm_cfg=dict(type='BN', requires_grad=True), align_corners=False,
                     loss_decode=dict(type='CrossEntropyLoss', use_sigmoid=False, loss_weight=1.0)),
    train_cfg=dict(), test_cfg=dict(mode='slide', crop_size=(32, 32), stride=(16, 16)))


def tiny_clip_fcn(**overrides):
    """A CLIPEncoderDecoder on the tiny test ViT (joint space 32-d, patch 8)."""
    torch.manual_seed(0)
    cfg = dict(TINY_MODEL, **overrides)
    return MODELS.build(ConfigDict(cfg))  # as from a config file (attribute access to test_cfg)


def sample(height, width, labels=None):
    data_sample = SegDataSample(metainfo=dict(img_shape=(height, width), ori_shape=(height, width)))
    if labels is not None:
        data_sample.gt_sem_seg = PixelData(data=labels)
    return data_sample


@pytest.mark.parametrize('mode', ['slide', 'whole'])
def test_a_vocabulary_of_another_size_keeps_everything_in_sync(mode):
    model = tiny_clip_fcn(test_cfg=dict(mode=mode, crop_size=(32, 32), stride=(16, 16))).eval()
    assert model.predict(torch.randn(1, 3, 40, 56), [sample(40, 56)])[0].seg_logits.data.shape == (3, 40, 56)
    model.set_vocabulary('tree,road,sky,car,person')
    assert model.num_classes == model.out_channels == 5
    assert model.decode_head.num_classes == model.decode_head.out_channels == 5
    assert model.dataset_meta['classes'] == ('tree', 'road', 'sky', 'car', 'person')
    result = model.predict(torch.randn(1, 3, 40, 56), [sample(40, 56)])[0]
    assert result.seg_logits.data.shape == (5, 40, 56)
    assert int(result.pred_sem_seg.data.max()) < 5


def test_batched_slide_inference_equals_one_window_at_a_time():
    model = tiny_clip_fcn().eval()
    inputs = torch.randn(2, 3, 40, 56)
    metas = [dict(img_shape=(40, 56), ori_shape=(40, 56))] * 2
    with torch.no_grad():
        ours = model.slide_inference(inputs, metas)
        reference = super(type(model), model).slide_inference(inputs, metas)  # mmseg's loop
    assert torch.allclose(ours, reference, atol=1e-5)


def test_training_classifies_against_the_train_vocabulary():
    model = tiny_clip_fcn(vocabulary='cat,dog,sofa,bed', train_vocabulary='cat,sofa')
    assert model.train_label_map.tolist() == [0, 255, 1, 255, 255]
    assert model.seen_classes.tolist() == [True, False, True, False]
    labels = torch.tensor([[[0, 1, 2, 3, 255]]])
    assert model.to_train_labels(labels).tolist() == [[[0, 255, 1, 255, 255]]]
    model.train()
    inputs = torch.randn(2, 3, 32, 32)
    features = model.extract_feat(inputs)
    assert model.decode_head(features).shape[1] == 2  # seen classes only
    gt = torch.randint(0, 4, (2, 1, 32, 32))
    losses = model.loss(inputs, [sample(32, 32, gt[i]) for i in range(2)])
    assert torch.isfinite(losses['decode.loss_ce'])
    model.eval()
    assert model.decode_head(model.extract_feat(inputs)).shape[1] == 4
    model.set_vocabulary('cat,horse')  # a new test vocabulary keeps the classes trained on
    assert model.train_vocabulary.class_names == ['cat', 'sofa']
    assert model.seen_classes.tolist() == [True, False]


def test_all_classes_are_trained_without_a_train_vocabulary():
    model = tiny_clip_fcn()
    assert model.train_vocabulary.class_names == ['cat', 'dog', 'sofa']
    assert model.train_label_map.tolist() == [0, 1, 2, 255]


def test_vocabularies_from_cfg_options_and_the_api(tmp_path):
    config = tmp_path / 'tiny.py'
    config.write_text(textwrap.dedent("""
        default_scope = 'clipdense'
        model = dict(
            type='CLIPEncoderDecoder',
            data_preprocessor=dict(type='SegDataPreProcessor', mean=[122.771, 116.746, 104.094],
                                   std=[68.501, 66.632, 70.323], bgr_to_rgb=True),
            clip=dict(name='test-tiny-vit', pretrained=None), templates='photo', vocabulary='cat,dog,sofa',
            train_vocabulary='cat,dog',
            backbone=dict(type='CLIPVisionBackbone'),
            decode_head=dict(type='TextClassifierHead', in_channels=32, in_index=-1, channels=16, embed_dim=32,
                             norm_cfg=dict(type='BN', requires_grad=True),
                             loss_decode=dict(type='CrossEntropyLoss')),
            test_cfg=dict(mode='whole'))
        test_pipeline = [dict(type='LoadImageFromFile'), dict(type='PackSegInputs')]
    """))
    model = init_model(str(config), cfg_options={'model.vocabulary': 'a,b,c,d', 'model.train_vocabulary': 'b,d'})
    assert model.vocabulary.class_names == ['a', 'b', 'c', 'd']
    assert model.train_vocabulary.class_names == ['b', 'd']
    model.set_train_vocabulary('a,c')
    assert model.seen_classes.tolist() == [True, False, True, False]


def test_checkpoints_record_the_text_tower_and_a_mismatch_warns_once(monkeypatch):
    model = tiny_clip_fcn()
    hook = TextTowerHook()
    runner = SimpleNamespace(model=model)
    checkpoint = {'meta': {}}
    hook.before_save_checkpoint(runner, checkpoint)
    recorded = checkpoint['meta']['text_tower']
    assert recorded == dict(clip_name='test-tiny-vit', fingerprint=model.text_classifier.fingerprint)

    messages = []
    monkeypatch.setattr('clipdense.models.utils.open_vocabulary.print_log',
                        lambda message, logger=None, level=None: messages.append(message))
    hook.after_load_checkpoint(runner, checkpoint)
    assert messages == []  # the same text tower
    other = {'meta': {'text_tower': dict(clip_name='ViT-B-16', fingerprint='f' * 40)}}
    for _ in range(2):
        hook.after_load_checkpoint(runner, other)
    assert len(messages) == 1
    assert "'ViT-B-16'" in messages[0] and "'test-tiny-vit'" in messages[0] and 'ffffffffffff' in messages[0]


def test_the_fingerprint_follows_the_text_tower_only():
    clip = build_clip('test-tiny-vit', None)
    before = text_tower_fingerprint(clip)
    with torch.no_grad():
        clip.logit_scale.add_(1.0)  # changes no text embedding
        clip.visual.proj.add_(1.0)
    assert text_tower_fingerprint(clip) == before
    with torch.no_grad():
        clip.token_embedding.weight[0, 0] += 1.0
    assert text_tower_fingerprint(clip) != before


def test_init_model_warns_for_a_checkpoint_of_another_text_tower(tmp_path, monkeypatch):
    model = tiny_clip_fcn()
    path = tmp_path / 'other.pth'
    torch.save({'state_dict': model.state_dict(),
                'meta': {'text_tower': dict(clip_name='ViT-L-14', fingerprint='e' * 40)}}, path)
    config = tmp_path / 'tiny.py'
    config.write_text("default_scope = 'clipdense'\n" + f"model = {dict(TINY_MODEL)!r}\n")
    messages = []
    monkeypatch.setattr('clipdense.models.utils.open_vocabulary.print_log',
                        lambda message, logger=None, level=None: messages.append(message))
    init_model(str(config), str(path))
    assert len(messages) == 1 and "'ViT-L-14'" in messages[0] and str(path) in messages[0]
