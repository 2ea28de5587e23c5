"""CLIPVisionBackbone: the CLIP vision tower as an mmseg/mmdet backbone."""
import pytest
import torch

from clipdense.models.backbones import CLIPVisionBackbone
from clipdense.models.clip import DenseCLIPVision, build_clip


@pytest.mark.parametrize('name, out_indices, size', [('test-tiny-vit', (0, 1), 32), ('test-tiny-rn', (1, 3), 64),
                                                     ('test-tiny-convnext', (0, 2), 64)])
def test_levels_then_the_clip_space_map(name, out_indices, size):
    torch.manual_seed(0)
    clip = build_clip(name, None)
    backbone = CLIPVisionBackbone(clip.visual, out_indices=out_indices)
    image = torch.randn(2, 3, size, size)
    outputs = backbone(image)
    assert len(outputs) == len(out_indices) + 1
    assert [x.shape[1] for x in outputs] == list(backbone.out_channels)
    assert torch.equal(outputs[-1], DenseCLIPVision(clip.visual)(image).dense)


def test_frozen_backbone_has_no_gradients_and_stays_in_eval_mode():
    torch.manual_seed(0)
    clip = build_clip('test-tiny-rn', None)
    backbone = CLIPVisionBackbone(clip.visual, out_indices=(3,))
    before = {k: v.clone() for k, v in clip.visual.state_dict().items()}
    backbone.init_weights()  # CLIP's weights are not re-initialised
    backbone.train()
    assert not any(p.requires_grad for p in backbone.parameters())
    assert not clip.visual.layer1[0].bn1.training  # batch statistics stay frozen
    backbone(torch.randn(2, 3, 64, 64))
    assert all(torch.equal(v, clip.visual.state_dict()[k]) for k, v in before.items())


def test_unfrozen_backbone_trains():
    torch.manual_seed(0)
    clip = build_clip('test-tiny-vit', None)
    backbone = CLIPVisionBackbone(clip.visual, frozen=False).train()
    backbone(torch.randn(1, 3, 32, 32))[-1].sum().backward()
    assert clip.visual.conv1.weight.grad is not None


def test_last_block_variant_from_a_config():
    torch.manual_seed(0)
    clip = build_clip('test-tiny-vit', None)
    from clipdense.registry import register_all_modules
    register_all_modules()
    backbone = CLIPVisionBackbone(clip.visual, last_block=dict(type='SCLIPLastBlock'), pos_interpolation='offset')
    assert type(backbone.encoder.last_block).__name__ == 'SCLIPLastBlock'
    assert backbone(torch.randn(1, 3, 40, 48))[-1].shape == (1, 32, 5, 6)
