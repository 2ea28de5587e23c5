"""ZegCLIP: each part against an explicit re-computation of the reference's math written here (per-head loops, no
shared helpers), the losses against per-pixel formulas, the parameter count, the configs, and the converter on
state dicts with the official key names and shapes."""
import math
import os

import pytest
import torch
import torch.nn.functional as F
from mmengine.config import Config, ConfigDict
from mmengine.structures import PixelData
from mmseg.structures import SegDataSample

from clipdense.apis import inference_model, init_model
from clipdense.models.clip import text_tower_fingerprint
from clipdense.models.losses import MaskDiceLoss, MaskFocalLoss
from clipdense.registry import MODELS
from tool_runs import load_tool, run_tool, short_run

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
VOC = os.path.join(ROOT, 'configs/zegclip/zegclip_vit-b16_voc12aug-512x512_inductive.py')
pytestmark = pytest.mark.usefixtures('clipdense_scope')


def tiny_zegclip(**overrides):
    """ZegCLIP on the tiny test ViT (width 64, 2 blocks, patch 8, joint space 32) at 32-px crops."""
    torch.manual_seed(0)
    cfg = dict(
        type='ZegCLIP', clip=dict(name='test-tiny-vit', pretrained=None), templates='photo',
        vocabulary='cat,dog,sofa,tree', train_vocabulary='cat,sofa', text_cache_dir=None,
        data_preprocessor=dict(type='SegDataPreProcessor', mean=[123.675, 116.28, 103.53],
                               std=[58.395, 57.12, 57.375], bgr_to_rgb=True, size=(32, 32)),
        backbone=dict(type='DeepPromptCLIPViT', num_prompts=3, input_size=32),
        decode_head=dict(type='ZegCLIPHead', embed_dim=32, num_layers=3, num_heads=4, ffn_dim=64,
                         loss_decode=[dict(type='MaskFocalLoss'), dict(type='MaskDiceLoss')]),
        test_cfg=dict(mode='slide', crop_size=(32, 32), stride=(24, 24)))
    cfg.update(overrides)
    return MODELS.build(ConfigDict(cfg))


# ---- the backbone ------------------------------------------------------------------------------------------------
def reference_backbone(backbone, images):
    """ZegCLIP's VPTCLIPVisionTransformer.forward, written out (eval mode)."""
    visual = backbone.tower.visual
    x = visual.conv1(images)
    batch, width, height, grid_w = x.shape
    x = x.reshape(batch, width, -1).permute(0, 2, 1)
    x = torch.cat([visual.class_embedding.expand(batch, 1, -1), x], dim=1)
    pos = visual.positional_embedding
    side = int(math.sqrt(pos.shape[0] - 1))
    spatial = F.interpolate(pos[1:].reshape(1, side, side, width).permute(0, 3, 1, 2), size=(height, grid_w),
                            mode='bilinear', align_corners=False).reshape(1, width, -1).permute(0, 2, 1)
    x = x + torch.cat([(pos[0] + visual.class_embedding)[None, None], spatial], dim=1)
    x = visual.ln_pre(x)
    proj = backbone.prompt_proj
    count = backbone.num_prompts
    x = torch.cat([x[:, :1], proj(backbone.prompt_embeddings).expand(batch, -1, -1), x[:, 1:]], dim=1)
    for index, block in enumerate(visual.transformer.resblocks):
        if index > 0:
            deep = proj(backbone.deep_prompt_embeddings[index - 1]).expand(batch, -1, -1)
            x = torch.cat([x[:, :1], deep, x[:, 1 + count:]], dim=1)
        x = block(x)
    x = F.layer_norm(x, (width,), backbone.prompt_norm.weight, backbone.prompt_norm.bias, eps=1e-6)
    x = visual.ln_post(x) @ visual.proj
    cls = x[:, 0] / x[:, 0].norm(dim=-1, keepdim=True)
    patches = x[:, -height * grid_w:].reshape(batch, height, grid_w, -1).permute(0, 3, 1, 2)
    return patches / patches.norm(dim=1, keepdim=True), cls


@pytest.mark.parametrize('size', [(32, 32), (40, 56)])
def test_backbone_is_the_reference_forward(size):
    backbone = tiny_zegclip().backbone.eval()
    images = torch.randn(2, 3, *size)
    patches, cls = backbone(images)
    expected_patches, expected_cls = reference_backbone(backbone, images)
    assert patches.shape == (2, 32, size[0] // 8, size[1] // 8)
    assert torch.allclose(patches, expected_patches, atol=1e-5)
    assert torch.allclose(cls, expected_cls, atol=1e-5)


def test_backbone_trains_only_prompts_and_resizes_the_positional_embedding_once():
    model = tiny_zegclip()
    backbone = model.backbone
    assert backbone.tower.visual.positional_embedding.shape == (1 + 4 * 4, 64)  # 32-px crops, patch 8
    trainable = {name for name, p in backbone.named_parameters() if p.requires_grad}
    assert trainable == {'prompt_embeddings', 'deep_prompt_embeddings', 'prompt_proj.weight', 'prompt_proj.bias',
                         'prompt_norm.weight', 'prompt_norm.bias'}
    bound = math.sqrt(6 / (3 * 8 * 8 + 64))
    assert backbone.prompt_embeddings.abs().max() <= bound
    backbone.train()
    assert backbone.prompt_dropout.training and not backbone.tower.visual.training


# ---- the head ------------------------------------------------------------------------------------------------------
def reference_mask_logits(head, patches, cls, text):
    """ATMSingleHeadSeg.forward (eval): relationship descriptor, decoder layers, the last layer's scores averaged
    over heads, with an explicit loop over heads."""
    batch = patches.shape[0]
    memory = patches.flatten(2).transpose(1, 2)
    queries = head.q_proj(torch.cat([text[None] * cls[:, None], text[None].expand(batch, -1, -1)], dim=-1))
    num_heads = head.layers[0].cross_attn.num_heads
    for layer_index, layer in enumerate(head.layers):
        attn = layer.cross_attn
        q, k, v = attn.q(queries), attn.k(memory), attn.v(memory)
        dim = q.shape[-1] // num_heads
        scores, outputs = [], []
        for h in range(num_heads):
            part = slice(h * dim, (h + 1) * dim)
            s = q[..., part] @ k[..., part].transpose(1, 2) * dim ** -0.5
            scores.append(s)
            outputs.append(s.softmax(-1) @ v[..., part])
        if layer_index == len(head.layers) - 1:
            return torch.stack(scores).sum(0) / num_heads
        queries = layer.norm2(queries + attn.proj(torch.cat(outputs, dim=-1)))
        queries = layer.norm3(queries + layer.linear2(F.relu(layer.linear1(queries))))


def test_head_masks_are_the_last_layers_attention_scores():
    model = tiny_zegclip().eval()
    patches, cls = model.backbone(torch.randn(2, 3, 32, 40))
    logits = model.decode_head((patches, cls))
    text = model.class_embeddings.embeddings
    expected = reference_mask_logits(model.decode_head, patches, cls, text).view(2, 4, 4, 5)
    assert logits.shape == (2, 4, 4, 5)
    assert torch.allclose(logits, expected, atol=1e-5)
    model.train()
    assert model.decode_head((patches, cls)).shape[1] == 2  # the training vocabulary (seen classes)


def test_parameter_count_of_the_voc_and_coco_models():
    """ZegCLIP ViT-B/16: the reference's 13,821,184 (VOC) / 14,650,624 (COCO-Stuff) trainable parameters less the
    3 x (self-attention 1,050,624 + norm1 1,024) its decoder layers build and never run."""
    cfg = Config.fromfile(VOC)
    cfg.model.clip.pretrained = None
    cfg.model.text_cache_dir = None
    model = MODELS.build(cfg.model)
    trainable = sum(p.numel() for p in model.parameters() if p.requires_grad)
    assert trainable == 10_666_240 == 13_821_184 - 3 * (1_050_624 + 1_024)
    prompts = sum(p.numel() for n, p in model.backbone.named_parameters() if p.requires_grad)
    assert prompts == 684_288
    extra_prompt_tokens = 12 * 90 * 768  # COCO-Stuff's 100 prompt tokens instead of 10
    assert trainable + extra_prompt_tokens == 11_495_680 == 14_650_624 - 3 * (1_050_624 + 1_024)


# ---- scores, labels, losses -------------------------------------------------------------------------------------
def test_scores_are_sigmoid_minus_the_seen_penalty():
    model = tiny_zegclip().eval()
    inputs = torch.randn(1, 3, 32, 32)
    metas = [dict(img_shape=(32, 32), ori_shape=(32, 32))]
    logits = model.decode_head.predict(model.extract_feat(inputs), metas, model.test_cfg)
    scores = model.encode_decode(inputs, metas)
    penalty = torch.tensor([0.1, 0.0, 0.1, 0.0])  # cat and sofa are seen
    assert torch.allclose(scores, logits.sigmoid() - penalty[None, :, None, None])
    everywhere = tiny_zegclip(penalize='all').eval()
    assert torch.equal(everywhere.score_penalty, torch.full((4,), 0.1))
    transductive = tiny_zegclip(seen_penalty=0.0, train_vocabulary=None, pseudo_label_classes=['dog', 'tree'])
    assert torch.equal(transductive.score_penalty, torch.zeros(4))


def test_prediction_averages_window_scores_and_resizes_them():
    model = tiny_zegclip().eval()
    inputs = torch.randn(1, 3, 32, 56)
    sample = SegDataSample(metainfo=dict(img_shape=(32, 56), ori_shape=(24, 42)))
    result = model.predict(inputs, [sample])[0]
    windows = [model.encode_decode(inputs[..., x:x + 32], [dict(img_shape=(32, 32))]) for x in (0, 24)]
    merged = torch.zeros(1, 4, 32, 56)
    count = torch.zeros(1, 1, 32, 56)
    for x, window in zip((0, 24), windows):
        merged[..., x:x + 32] += window
        count[..., x:x + 32] += 1
    expected = F.interpolate(merged / count, size=(24, 42), mode='bilinear', align_corners=False)[0]
    assert torch.allclose(result.seg_logits.data, expected, atol=1e-6)
    assert torch.equal(result.pred_sem_seg.data[0], expected.argmax(0))


def test_focal_loss_is_the_reference_formula_with_ignored_pixels_as_negatives():
    torch.manual_seed(0)
    logits = torch.randn(2, 3, 4, 5)
    labels = torch.randint(0, 3, (2, 4, 5))
    labels[0, 0, :] = 255
    labels[1] = torch.where(labels[1] == 2, 255, labels[1])  # class 2 absent from image 1
    total, masks = 0.0, 0
    for b in range(2):
        present = set(labels[b].unique().tolist()) - {255}
        masks += len(present)
        for c in range(3):
            per_pixel = []
            for y in range(4):
                for x in range(5):
                    t = float(labels[b, y, x] == c)
                    p = torch.sigmoid(logits[b, c, y, x])
                    ce = -(t * torch.log(p) + (1 - t) * torch.log(1 - p))
                    p_t = p * t + (1 - p) * (1 - t)
                    per_pixel.append((0.25 * t + 0.75 * (1 - t)) * ce * (1 - p_t) ** 2)
            total += torch.stack(per_pixel).mean()
    expected = 100.0 * total / masks
    assert torch.allclose(MaskFocalLoss()(logits, labels), expected, atol=1e-5)


def test_dice_loss_covers_present_classes_with_smoothing():
    torch.manual_seed(1)
    logits = torch.randn(2, 3, 4, 5)
    labels = torch.randint(0, 2, (2, 4, 5))
    labels[1, :2] = 255
    total, masks = 0.0, 0
    for b in range(2):
        for c in sorted(set(labels[b].unique().tolist()) - {255}):
            p = logits[b, c].sigmoid().flatten()
            t = (labels[b] == c).float().flatten()
            total += 1 - (2 * (p * t).sum() + 1) / (p.sum() + t.sum() + 1)
            masks += 1
    assert torch.allclose(MaskDiceLoss()(logits, labels), total / masks, atol=1e-6)


def test_inductive_training_ignores_unseen_labels():
    model = tiny_zegclip().train()
    labels = torch.tensor([0, 1, 2, 3]).repeat_interleave(8).view(1, 1, 32).expand(1, 32, 32).clone()
    sample = SegDataSample(metainfo=dict(img_shape=(32, 32), ori_shape=(32, 32)))
    sample.gt_sem_seg = PixelData(data=labels)
    assert model.to_train_labels(labels)[0, 0, ::8].tolist() == [0, 255, 1, 255]  # cat, sofa seen; dog, tree not
    losses = model.loss(torch.randn(1, 3, 32, 32), [sample])
    assert torch.equal(sample.gt_sem_seg.data, labels)  # the caller's sample is left as it was
    assert set(losses) >= {'decode.loss_mask', 'decode.loss_dice'}
    sum(v for k, v in losses.items() if 'loss' in k).backward()
    assert model.backbone.prompt_embeddings.grad is not None
    assert model.backbone.tower.visual.conv1.weight.grad is None


def test_transductive_pseudo_labels_replace_unseen_pixels_by_the_best_unseen_class():
    model = tiny_zegclip(train_vocabulary=None, seen_penalty=0.0, pseudo_label_classes=['dog', 'tree'])
    head = model.decode_head
    logits = torch.zeros(1, 4, 2, 2)
    logits[0, 1] = torch.tensor([[5.0, -1.0], [0.0, 9.0]])  # dog
    logits[0, 3] = torch.tensor([[1.0, 2.0], [3.0, 9.5]])  # tree
    logits[0, 0] = 100.0  # a seen class never wins a pseudo label
    sample = SegDataSample()
    sample.gt_sem_seg = PixelData(data=torch.tensor([[[1, 3], [0, 1]]]))
    head.pseudo_label(logits, [sample])
    assert sample.gt_sem_seg.data.tolist() == [[[1, 3], [0, 3]]]


# ---- configs and the converter ---------------------------------------------------------------------------------
def load_converter():
    return load_tool('tools/model_converters/zegclip2clipdense.py')


def official_state_dict(model, num_prompts=3, num_layers=3):
    """A released checkpoint's state dict with the official key names and shapes (ZiqinZhou66/ZegCLIP's
    VPTCLIPVisionTransformer, CLIPTextEncoder and ATMSingleHeadSeg), values drawn at random; the text encoder holds
    the tiny CLIP's own text tower."""
    generator = torch.Generator().manual_seed(7)
    visual = model.backbone.tower.visual
    width, embed = visual.transformer.width, visual.proj.shape[1]
    state = {f'backbone.{k}': torch.randn(v.shape, generator=generator) for k, v in visual.state_dict().items()}
    state['backbone.prompt_embeddings'] = torch.randn(1, num_prompts, width, generator=generator)
    state['backbone.deep_prompt_embeddings'] = torch.randn(len(visual.transformer.resblocks) - 1, num_prompts,
                                                           width, generator=generator)
    for name, shape in [('prompt_proj.weight', (width, width)), ('prompt_proj.bias', (width,)),
                        ('prompt_norm.weight', (width,)), ('prompt_norm.bias', (width,))]:
        state[f'backbone.{name}'] = torch.randn(shape, generator=generator)
    clip = model.text_classifier.clip_model
    for key, value in clip.state_dict().items():
        if not key.startswith('visual.') and key != 'logit_scale':
            state[f'text_encoder.{key}'] = value.clone()
    ffn = 2 * embed
    layer_shapes = {'self_attn.in_proj_weight': (3 * embed, embed), 'self_attn.in_proj_bias': (3 * embed,),
                    'self_attn.out_proj.weight': (embed, embed), 'self_attn.out_proj.bias': (embed,),
                    'linear1.weight': (ffn, embed), 'linear1.bias': (ffn,), 'linear2.weight': (embed, ffn),
                    'linear2.bias': (embed,)}
    for part in ('q', 'k', 'v', 'proj'):
        layer_shapes.update({f'multihead_attn.{part}.weight': (embed, embed), f'multihead_attn.{part}.bias': (embed,)})
    for norm in ('norm1', 'norm2', 'norm3'):
        layer_shapes.update({f'{norm}.weight': (embed,), f'{norm}.bias': (embed,)})
    for layer in range(num_layers):
        for name, shape in layer_shapes.items():
            state[f'decode_head.decoder_1.layers.{layer}.{name}'] = torch.randn(shape, generator=generator)
    state['decode_head.q_proj.weight'] = torch.randn(embed, 2 * embed, generator=generator)
    state['decode_head.q_proj.bias'] = torch.randn(embed, generator=generator)
    state['decode_head.loss_decode.criterion.empty_weight'] = torch.ones(16)
    return state


def test_converter_maps_the_official_layout_onto_the_model(tmp_path):
    model = tiny_zegclip(decode_head=dict(type='ZegCLIPHead', embed_dim=32, num_layers=3, num_heads=4, ffn_dim=64))
    state = official_state_dict(model)
    source, destination = tmp_path / 'zegclip_official.pth', tmp_path / 'converted.pth'
    torch.save({'meta': {'CLASSES': ('cat', 'dog')}, 'state_dict': state}, source)
    load_converter().main([str(source), str(destination)])
    converted = torch.load(destination, weights_only=True)
    model.load_state_dict(converted['state_dict'], strict=True)
    # Tensors land where the reference reads them.
    tower = model.backbone.tower.visual
    assert torch.equal(tower.positional_embedding, state['backbone.positional_embedding'])
    assert torch.equal(tower.transformer.resblocks[1].attn.in_proj_weight,
                       state['backbone.transformer.resblocks.1.attn.in_proj_weight'])
    assert torch.equal(model.backbone.deep_prompt_embeddings, state['backbone.deep_prompt_embeddings'])
    assert torch.equal(model.decode_head.layers[1].cross_attn.k.weight,
                       state['decode_head.decoder_1.layers.1.multihead_attn.k.weight'])
    assert torch.equal(model.decode_head.layers[2].norm3.bias, state['decode_head.decoder_1.layers.2.norm3.bias'])
    assert torch.equal(model.decode_head.q_proj.weight, state['decode_head.q_proj.weight'])
    # The text encoder is not copied; its fingerprint is the configured CLIP's when they are the same weights.
    assert converted['meta']['text_tower']['fingerprint'] == text_tower_fingerprint(model.text_classifier.clip_model)


def test_converter_rejects_other_checkpoints(tmp_path, capsys):
    path = tmp_path / 'other.pth'
    torch.save({'state_dict': {'backbone.prompt_embeddings': torch.zeros(1), 'decode_head.q_proj.weight':
                               torch.zeros(1), 'neck.conv.weight': torch.zeros(1)}}, path)
    with pytest.raises(SystemExit) as exit_info:
        from clipdense.utils import run_cli
        run_cli(lambda: load_converter().main([str(path), str(tmp_path / 'out.pth')]))
    assert exit_info.value.code == 2
    assert "unexpected key 'neck.conv.weight'" in capsys.readouterr().err


def test_converted_checkpoint_runs_through_init_model_and_inference_model(tmp_path):
    cfg = Config.fromfile(VOC)
    model = tiny_zegclip()
    state = official_state_dict(model)
    source, destination = tmp_path / 'official.pth', tmp_path / 'converted.pth'
    torch.save({'state_dict': state}, source)
    load_converter().main([str(source), str(destination)])
    cfg.model.update(clip=dict(name='test-tiny-vit', pretrained=None), templates='photo', text_cache_dir=None,
                     vocabulary='cat,dog,sofa,tree', train_vocabulary='cat,sofa',
                     data_preprocessor=dict(size=(32, 32)), backbone=dict(num_prompts=3, input_size=32),
                     decode_head=dict(embed_dim=32, num_heads=4, ffn_dim=64),
                     test_cfg=dict(crop_size=(32, 32), stride=(24, 24)))
    cfg.test_pipeline[1] = dict(type='ResizeShortestEdge', scale=32, max_size=1 << 30)
    loaded = init_model(cfg, str(destination))  # the same tiny text tower: no warning
    assert torch.equal(loaded.decode_head.q_proj.bias, state['decode_head.q_proj.bias'])
    image = (torch.rand(50, 70, 3) * 255).byte().numpy()
    result = inference_model(loaded, image)
    assert result.pred_sem_seg.data.shape == (1, 50, 70)
    assert result.seg_logits.data.shape == (4, 50, 70)


# ---- the tools on the synthetic world ---------------------------------------------------------------------------
SYNTHETIC = os.path.join(ROOT, 'configs/zegclip/zegclip_clipdense-tiny_synthetic-world_inductive.py')
NO_DROPOUT = ('model.backbone.prompt_dropout=0.0', 'model.decode_head.dropout=0.0')


def zegclip_run(world, *extra):
    return short_run(world, *NO_DROPOUT, *extra)


@pytest.mark.slow
def test_train_stop_resume_test_equals_an_uninterrupted_run(small_synthetic_world, tmp_path):
    """4 iterations at once, and 2 then --resume to 4: the same weights and the same seen/unseen/hIoU table."""
    import re
    world = small_synthetic_world
    straight, interrupted = tmp_path / 'straight', tmp_path / 'interrupted'
    run_tool('tools/train.py', SYNTHETIC, '--work-dir', str(straight),
             *zegclip_run(world, 'train_cfg.max_iters=4', 'train_cfg.val_interval=4'))
    run_tool('tools/train.py', SYNTHETIC, '--work-dir', str(interrupted),
             *zegclip_run(world, 'train_cfg.max_iters=2', 'train_cfg.val_interval=4'))
    output = run_tool('tools/train.py', SYNTHETIC, '--work-dir', str(interrupted), '--resume',
                      *zegclip_run(world, 'train_cfg.max_iters=4', 'train_cfg.val_interval=4'))
    assert re.search(r'resumed epoch: \d+, iter: 2', output), output[-3000:]
    from clipdense.engine.checkpoint import load_local_checkpoint
    first = load_local_checkpoint(str(straight / 'iter_4.pth'))['state_dict']
    second = load_local_checkpoint(str(interrupted / 'iter_4.pth'))['state_dict']
    trained = [key for key in first if 'prompt' in key or key.startswith('decode_head.')]
    assert trained and all(torch.allclose(first[key], second[key], atol=1e-6) for key in trained)
    tables = []
    for work_dir in (straight, interrupted):
        output = run_tool('tools/test.py', SYNTHETIC, str(work_dir / 'iter_4.pth'), '--work-dir',
                          str(work_dir / 'test'), *zegclip_run(world))
        tables.append(re.search(r'Iter\(test\).*?(mIoU: .*hIoU: [\d.]+)', output).group(1))
    assert 'mIoU_seen' in tables[0] and 'mIoU_unseen' in tables[0]
    assert tables[0] == tables[1]


@pytest.mark.slow
def test_two_processes_train(small_synthetic_world, tmp_path):
    output = run_tool('tools/dist_train.sh', SYNTHETIC, '2', '--work-dir', str(tmp_path),
                      *zegclip_run(small_synthetic_world, 'train_cfg.max_iters=2', 'train_cfg.val_interval=4'),
                      port=29541)
    assert 'process 0 of 2 communicates over gloo' in output
    assert (tmp_path / 'iter_2.pth').is_file()


TRANSDUCTIVE = SYNTHETIC.replace('inductive', 'transductive')


@pytest.mark.slow
def test_transductive_config_trains_on_from_the_inductive_half_way_checkpoint(tmp_path):
    """The documented chain on a world whose training scenes hold unseen objects: the inductive config saves a
    checkpoint half-way, the transductive config loads it, trains on every class's text with pseudo labels and
    tests without the seen penalty."""
    import re

    from clipdense.datasets.synthetic import write_synthetic_world
    from clipdense.engine.checkpoint import load_local_checkpoint
    world = tmp_path / 'world'
    write_synthetic_world(str(world), num_train=12, num_val=3, seed=0, unseen_in_train=True)
    inductive, transductive = tmp_path / 'inductive', tmp_path / 'transductive'
    run_tool('tools/train.py', SYNTHETIC, '--work-dir', str(inductive),
             *zegclip_run(world, 'train_cfg.max_iters=4', 'train_cfg.val_interval=4'))
    half_way = inductive / 'iter_2.pth'
    output = run_tool('tools/train.py', TRANSDUCTIVE, '--work-dir', str(transductive),
                      *zegclip_run(world, f'load_from={half_way}', 'train_cfg.max_iters=2',
                                   'train_cfg.val_interval=2'))
    assert f'Load checkpoint from {half_way}' in output
    assert re.search(r'Iter\(val\).*mIoU_unseen: [\d.]+.*hIoU', output), output[-3000:]
    start = load_local_checkpoint(str(half_way))['state_dict']
    end = load_local_checkpoint(str(transductive / 'iter_2.pth'))['state_dict']
    prompts = [key for key in start if 'prompt' in key and start[key].is_floating_point()]
    assert prompts and not all(torch.equal(start[key], end[key]) for key in prompts)


# ---- every config --------------------------------------------------------------------------------------------------
CONFIGS = sorted(p for p in os.listdir(os.path.join(ROOT, 'configs/zegclip')) if p.endswith('.py'))
# config stem: (classes, training classes, prompt tokens, templates, penalty, penalised, iterations)
EXPECTED = {
    'zegclip_vit-b16_voc12aug-512x512_inductive': (20, 15, 10, 'zegclip_single', 0.1, 'seen', 20000),
    'zegclip_vit-b16_voc12aug-512x512_transductive': (20, 20, 10, 'zegclip_single', 0.0, 'seen', 10000),
    'zegclip_vit-b16_voc12aug-512x512_fully': (20, 20, 10, 'zegclip_single', 0.1, 'all', 20000),
    'zegclip_vit-b16_coco-stuff164k-512x512_inductive': (171, 156, 100, 'zegclip15', 0.1, 'seen', 80000),
    'zegclip_vit-b16_coco-stuff164k-512x512_transductive': (171, 171, 100, 'zegclip15', 0.0, 'seen', 40000),
    'zegclip_vit-b16_coco-stuff164k-512x512_fully': (171, 171, 100, 'zegclip15', 0.1, 'all', 80000),
    'zegclip_vit-b16_context59-512x512_inductive': (59, 49, 100, 'zegclip15', 0.1, 'seen', 20000),
    'zegclip_vit-b16_coco-stuff164k-512x512_cross-voc20': (20, 156, 100, 'zegclip_single', 0.1, 'all', None),
    'zegclip_vit-b16_coco-stuff164k-512x512_cross-context59': (59, 156, 100, 'zegclip15', 0.1, 'all', None),
    'zegclip_vit-b16_coco-stuff164k-512x512_cross-ade20k': (150, 156, 100, 'zegclip15', 0.1, 'all', None),
}


def test_every_real_config_is_listed():
    assert sorted(EXPECTED) == sorted(c[:-3] for c in CONFIGS if 'synthetic-world' not in c)


@pytest.mark.parametrize('stem', sorted(EXPECTED))
def test_config_holds_the_reference_values(stem):
    from clipdense.models.clip import Vocabulary
    cfg = Config.fromfile(os.path.join(ROOT, 'configs/zegclip', stem + '.py'))
    classes, trained, prompts, templates, penalty, penalised, iterations = EXPECTED[stem]
    model = cfg.model
    assert len(Vocabulary.parse(model.vocabulary)) == classes
    train_vocabulary = model.train_vocabulary or model.vocabulary
    assert len(Vocabulary.parse(train_vocabulary)) == trained
    assert (model.backbone.num_prompts, model.templates, model.seen_penalty, model.penalize) == (
        prompts, templates, penalty, penalised)
    assert model.data_preprocessor.mean == [123.675, 116.28, 103.53]  # ImageNet's, as the reference
    assert (model.test_cfg.crop_size, model.test_cfg.stride) == ((512, 512), (426, 426))
    assert dict(type='ResizeShortestEdge', scale=512, max_size=1 << 30) in cfg.test_dataloader.dataset.pipeline
    if iterations is None:  # test-only cross-dataset configs
        assert cfg.train_dataloader is None and cfg.train_cfg is None
    else:
        assert cfg.train_cfg.max_iters == iterations == cfg.param_scheduler[1].end
        assert cfg.optim_wrapper.optimizer == dict(type='AdamW', lr=2e-4, weight_decay=0.01)
        assert cfg.train_dataloader.batch_size == 4  # x 4 GPUs = the reference's 16
    if 'transductive' in stem:
        assert len(Vocabulary.parse(model.pseudo_label_classes)) == classes - EXPECTED[
            stem.replace('transductive', 'inductive')][1]
    if 'unseen_classes' in cfg.test_evaluator:
        unseen = Vocabulary.parse(cfg.test_evaluator.unseen_classes).class_names
        seen = Vocabulary.parse(train_vocabulary).class_names
        assert not set(unseen) & set(seen) or 'transductive' in stem or 'fully' in stem
    assert cfg.test_evaluator.type == 'OpenVocabIoUMetric'


@pytest.mark.slow
@pytest.mark.parametrize('stem', sorted(EXPECTED))
def test_config_builds(stem):
    cfg = Config.fromfile(os.path.join(ROOT, 'configs/zegclip', stem + '.py'))
    cfg.model.update(clip=dict(name='ViT-B-16', pretrained=None), templates='photo', text_cache_dir=None)
    model = MODELS.build(cfg.model)
    trainable = sum(p.numel() for p in model.parameters() if p.requires_grad)
    prompts = cfg.model.backbone.num_prompts
    assert trainable == 10_666_240 + 12 * 768 * (prompts - 10)
    assert model.num_classes == EXPECTED[stem][0]


# ---- the learning proof -----------------------------------------------------------------------------------------
# Measured with this test's own run (500 iterations of the synthetic config, seed 0, 2 loader workers, 2 CPU cores:
# 303 s with other jobs on the cores), mIoU (%) on the 40 val scenes of seed 0, 64 classes (48 seen in training,
# 16 unseen): untrained 0.00 seen / 0.33 unseen; trained, as shipped (0.1 seen penalty) 0.00 / 13.00; trained,
# without the penalty 12.42 / 10.37 (hIoU 11.30); 1000 iterations gave 1.32 / 13.91 and 13.56 / 12.41 (hIoU 12.96).
# Training-free methods on the same scenes (embedded CLIP): seen
# 12.2-15.9, unseen 6.8-8.9, hIoU 8.8-11.4 (NACLIP best). See configs/zegclip/README.md.
MEASURED = dict(unseen=13.00, seen_no_penalty=12.42, hiou_no_penalty=11.30)
TRAINING_FREE_BEST_UNSEEN = 8.91  # NACLIP
CHANCE = 100 / 64 / 2  # uniform random labels give each class an IoU of about 1/127


@pytest.mark.slow
def test_zegclip_learns_on_the_synthetic_world(synthetic_world_2000, tmp_path_factory):
    """Trained on the 48 seen classes only, ZegCLIP segments the 16 unseen ones far above chance and above every
    training-free method; its seen classes learn too, but after minutes on CPUs their sigmoid scores are not yet
    confident enough for the reference's 0.1 seen penalty, which hands their pixels to unseen classes."""
    from mmengine.runner import Runner

    from clipdense.registry import register_all_modules
    register_all_modules()
    cfg = Config.fromfile(SYNTHETIC)
    for loader in ('train_dataloader', 'val_dataloader', 'test_dataloader'):
        cfg[loader].dataset.data_root = str(synthetic_world_2000)
    cfg.work_dir = str(tmp_path_factory.mktemp('zegclip'))
    cfg.randomness = dict(seed=0)
    runner = Runner.from_cfg(cfg)
    untrained = runner.test()
    runner.train()
    trained = runner.test()
    runner.model.seen_penalty = 0.0
    no_penalty = runner.test()
    print('ZegCLIP on the synthetic world: untrained', untrained, 'trained', trained, 'no penalty', no_penalty)
    assert untrained['mIoU_seen'] < 1 and untrained['mIoU_unseen'] < 1
    assert trained['mIoU_unseen'] > 10 * CHANCE and trained['mIoU_unseen'] > TRAINING_FREE_BEST_UNSEEN
    assert trained['mIoU_unseen'] == pytest.approx(MEASURED['unseen'], abs=4)
    assert no_penalty['mIoU_seen'] == pytest.approx(MEASURED['seen_no_penalty'], abs=4)
    assert no_penalty['mIoU_unseen'] > 10 * CHANCE
    assert no_penalty['hIoU'] == pytest.approx(MEASURED['hiou_no_penalty'], abs=4)
