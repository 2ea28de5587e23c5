"""The embedded convolutional tiny CLIPs (clipdense-tiny-convnext, clipdense-tiny-resnet): they load like real
weights, recognise the synthetic world, and the script that made them trains FC-CLIP's pooled read-out and
RegionCLIP's box read-out."""
import importlib.util
import os.path as osp
import subprocess
import sys
from argparse import Namespace

import numpy as np
import pytest
import torch
import torch.nn.functional as F

from clipdense.datasets.synthetic import CLASSES, UNSEEN_CLASSES, SyntheticWorld
from clipdense.datasets.synthetic.crops import object_crops
from clipdense.models.clip import StagedConvNeXt, StagedModifiedResNet, build_clip
from clipdense.models.clip.loading import EMBEDDED_WEIGHTS

REPO = osp.dirname(osp.dirname(osp.abspath(__file__)))
SCRIPT = osp.join(REPO, 'tools', 'train_tiny_convclip.py')
NAME, RESNET = 'clipdense-tiny-convnext', 'clipdense-tiny-resnet'
# Top-1 on the object crops of val scenes 0..79 with "a photo of a {}." (64-way, chance 0.016), measured with the
# committed checkpoints (ConvNeXt 2026-12-02, ResNet 2026-12-04). Deterministic on the CPU; the margins cover other
# BLAS builds.
MEASURED = {NAME: dict(crop_seen=0.367, crop_unseen=0.233), RESNET: dict(crop_seen=0.270, crop_unseen=0.151)}


def load_script():
    spec = importlib.util.spec_from_file_location('train_tiny_convclip', SCRIPT)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


@pytest.fixture(scope='module')
def model():
    return build_clip(NAME, 'embedded')


@pytest.fixture(scope='module')
def resnet():
    return build_clip(RESNET, 'embedded')


@pytest.mark.parametrize('name', [NAME, RESNET])
def test_checkpoint_is_an_fp16_open_clip_state_dict(name):
    model = build_clip(name, 'embedded')
    path = EMBEDDED_WEIGHTS[name]
    assert osp.getsize(path) <= 12 * 2**20
    state = torch.load(path, map_location='cpu', weights_only=True)
    assert set(state) == set(model.state_dict()) and state['logit_scale'].dtype == torch.float16
    if name == NAME:
        assert StagedConvNeXt(model.visual).stage_channels == (40, 80, 160, 320)
    else:
        assert StagedModifiedResNet(model.visual).layer_channels == (64, 128, 256, 512)


@torch.no_grad()
@pytest.mark.parametrize('name', [NAME, RESNET])
def test_zero_shot_classification_of_val_crops_is_far_above_chance(name):
    script = load_script()
    model = build_clip(name, 'embedded')
    crops, labels = object_crops(list(SyntheticWorld(seed=0).scenes('val', 80)), 128)
    text = script.class_text_features(model, script.open_clip.get_tokenizer(name), CLASSES, ['a photo of a {}.'])
    predictions = (model.encode_image(script.to_tensor(crops), normalize=True) @ text.t()).argmax(dim=1).numpy()
    unseen = np.isin(labels, [CLASSES.index(c) for c in UNSEEN_CLASSES])
    seen_accuracy = (predictions == labels)[~unseen].mean()
    unseen_accuracy = (predictions == labels)[unseen].mean()
    print(name, 'crops: seen', seen_accuracy, 'unseen', unseen_accuracy)
    measured = MEASURED[name]
    assert seen_accuracy == pytest.approx(measured['crop_seen'], abs=0.03) and seen_accuracy > 10 / 64
    assert unseen_accuracy == pytest.approx(measured['crop_unseen'], abs=0.03) and unseen_accuracy > 4 / 64


def test_region_weights_are_each_labels_share_of_each_cell():
    script = load_script()
    labels = torch.zeros(1, 64, 64, dtype=torch.long)
    labels[0, :32, :16] = 2  # half of cell (0, 0)
    weights = script.region_weights(labels, 3, stride=32)
    assert weights.shape == (1, 3, 2, 2)
    assert weights[0, 2].tolist() == [[0.5, 0.0], [0.0, 0.0]]
    assert weights[0, 0].tolist() == [[0.5, 1.0], [1.0, 1.0]]
    assert torch.allclose(weights.sum(dim=1), torch.ones(1, 2, 2))


def test_region_loss_reads_regions_as_fcclip_does(model):
    """The script's pooled read-out is StagedConvNeXt.pooled_embedding of the area-weighted mean of the last stage,
    which is FC-CLIP's out-of-vocabulary read-out (a binary mask's plain mean) when a region covers whole cells."""
    script = load_script()
    readout = script.ConvNeXtRegions(model.visual, Namespace(min_cells=0.5, background_weight=1.0))
    tower = readout.tower
    images = torch.randn(1, 3, 64, 64)
    labels = torch.zeros(1, 64, 64, dtype=torch.long)
    labels[0, :, :32] = 1  # the left column of cells
    with torch.no_grad():
        last = readout.maps(images)
        text = F.normalize(torch.randn(2, model.text_projection.shape[1]), dim=-1)
        loss = readout.region_loss(last, labels, torch.tensor([1, 0]), text, 10.0)
        pooled = torch.stack([last[0, :, :, 1].mean(dim=-1), last[0, :, :, 0].mean(dim=-1)])  # background, class 0
        logits = 10.0 * F.normalize(tower.pooled_embedding(pooled), dim=-1) @ text.t()
        expected = F.cross_entropy(logits, torch.tensor([1, 0]))
    torch.testing.assert_close(loss, expected)


def test_box_readout_is_regionclips(resnet):
    """The script's box read-out is RegionCLIP's region embedding: RoIAlign 14 (aligned) on res4, layer4, the
    attention pool (CLIPResNetC4 and the package's RoIAlign, as the detector's RoI head runs them)."""
    from clipdense.models.backbones import CLIPResNetC4
    from clipdense.ops import RoIAlign
    script = load_script()
    readout = script.ResNetBoxes(resnet.visual, Namespace(min_box_pixels=1, max_boxes=96, seed=0))
    backbone = CLIPResNetC4(visual=resnet.visual)
    images = torch.randn(2, 3, 160, 160)
    rois = torch.tensor([[0, 10.0, 20.0, 90.0, 70.0], [1, 0.0, 0.0, 160.0, 160.0], [1, 33.5, 41.0, 60.0, 150.0]])
    with torch.no_grad():
        expected = backbone.attention_pool(backbone.run_res5(RoIAlign(14, 1 / 16, 0, aligned=True)(
            backbone(images)[0], rois)))
        embeddings = readout.box_embeddings(readout.maps(images), rois)
    torch.testing.assert_close(embeddings, F.normalize(expected, dim=-1))


def test_box_loss_boxes_each_class_and_skips_unseen_and_small_ones(resnet):
    """One box per class present (its pixels' tight box) and a jittered copy; unseen classes (target -1) and
    regions under min_box_pixels are left out."""
    script = load_script()
    readout = script.ResNetBoxes(resnet.visual, Namespace(min_box_pixels=20, max_boxes=96, seed=0))
    labels = torch.zeros(1, 64, 64, dtype=torch.long)
    labels[0, 4:20, 8:40] = 1  # seen, target 0
    labels[0, 30:50, 30:50] = 2  # unseen
    labels[0, 60:62, 60:62] = 3  # 4 pixels
    read_out = []

    def box_embeddings(maps, rois):
        read_out.append(rois)
        return F.normalize(torch.ones(len(rois), 2), dim=-1)

    readout.box_embeddings = box_embeddings
    readout.region_loss(None, labels, torch.tensor([1, 0, -1, 1]), F.normalize(torch.eye(2), dim=-1), 10.0)
    rois = read_out[0]
    assert rois.shape == (2, 5) and rois[0].tolist() == [0, 8, 4, 40, 20]
    # shifted by up to 15 % of the side, scaled by up to 1.2: a corner moves at most a quarter of the side
    assert rois[1, 0] == 0 and (rois[1, 1:] - rois[0, 1:]).abs().max() <= 0.25 * 32


@pytest.mark.slow
@pytest.mark.parametrize('name', [NAME, RESNET])
def test_training_script_runs_end_to_end(name, tmp_path):
    out = tmp_path / 'tiny.pt'
    result = subprocess.run(
        [sys.executable, SCRIPT, '--model', name, '--steps', '2', '--batch-size', '8', '--large-batch-size', '2',
         '--train-scenes', '20', '--val-scenes', '6', '--out', str(out)], capture_output=True, text=True, timeout=600)
    assert result.returncode == 0, result.stderr[-3000:]
    assert 'zero-shot top-1' in result.stdout and 'read-out of the objects of whole val scenes' in result.stdout
    build_clip(name, str(out))
