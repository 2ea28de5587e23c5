"""Dense CLIP features and the last-block variants, each checked against a direct re-computation of its
math written here (explicit per-head loops, no shared helpers)."""
import math

import pytest
import torch
import torch.nn.functional as F

from clipdense.models.clip import (ClearCLIPLastBlock, DenseCLIPVision, MaskCLIPLastBlock, NACLIPLastBlock,
                                   SCLIPLastBlock, VanillaLastBlock, build_clip, interpolate_pos_embed)


@pytest.fixture(scope='module')
def vit():
    torch.manual_seed(0)
    return build_clip('test-tiny-vit', None)


def per_head_attention(a, b, v, num_heads, bias=None):
    """softmax(a_h b_h^T / sqrt(d) + bias) v_h for each head h, concatenated."""
    outputs = []
    d = a.shape[-1] // num_heads
    for h in range(num_heads):
        sl = slice(h * d, (h + 1) * d)
        logits = a[..., sl] @ b[..., sl].transpose(-1, -2) / math.sqrt(d)
        if bias is not None:
            logits = logits + bias
        outputs.append(torch.softmax(logits, dim=-1) @ v[..., sl])
    return torch.cat(outputs, dim=-1)


def qkv(block, x):
    y = F.layer_norm(x, (x.shape[-1],), block.ln_1.weight, block.ln_1.bias, eps=1e-5)
    w, b = block.attn.in_proj_weight, block.attn.in_proj_bias
    c = x.shape[-1]
    return y @ w[:c].T + b[:c], y @ w[c:2 * c].T + b[c:2 * c], y @ w[2 * c:].T + b[2 * c:]


def ffn(block, x):
    y = F.layer_norm(x, (x.shape[-1],), block.ln_2.weight, block.ln_2.bias, eps=1e-5)
    hidden = y @ block.mlp.c_fc.weight.T + block.mlp.c_fc.bias
    hidden = hidden * torch.sigmoid(1.702 * hidden)  # QuickGELU
    return hidden @ block.mlp.c_proj.weight.T + block.mlp.c_proj.bias


def out_proj(block, x):
    return x @ block.attn.out_proj.weight.T + block.attn.out_proj.bias


@pytest.fixture
def tokens(vit):
    torch.manual_seed(1)
    return torch.randn(2, 1 + 3 * 5, vit.visual.transformer.width)


def test_sclip_block(vit, tokens):
    block = vit.visual.transformer.resblocks[-1]
    q, k, v = qkv(block, tokens)
    heads = block.attn.num_heads
    x = tokens + out_proj(block, per_head_attention(q, q, v, heads) + per_head_attention(k, k, v, heads))
    expected = x + ffn(block, x)
    assert torch.allclose(SCLIPLastBlock()(block, tokens, (3, 5)), expected, atol=1e-5)


def test_clearclip_block(vit, tokens):
    block = vit.visual.transformer.resblocks[-1]
    q, k, v = qkv(block, tokens)
    expected = out_proj(block, per_head_attention(q, q, v, block.attn.num_heads))
    assert torch.allclose(ClearCLIPLastBlock()(block, tokens, (3, 5)), expected, atol=1e-5)


def test_maskclip_block(vit, tokens):
    block = vit.visual.transformer.resblocks[-1]
    _, _, v = qkv(block, tokens)
    x = tokens + out_proj(block, v)
    expected = x + ffn(block, x)
    assert torch.allclose(MaskCLIPLastBlock()(block, tokens, (3, 5)), expected, atol=1e-5)


def test_naclip_block(vit, tokens):
    block = vit.visual.transformer.resblocks[-1]
    _, k, v = qkv(block, tokens)
    grid = (3, 5)
    bias = torch.zeros(16, 16)
    for i in range(15):
        for j in range(15):
            (ri, ci), (rj, cj) = divmod(i, 5), divmod(j, 5)
            bias[1 + i, 1 + j] = math.exp(-((ri - rj) ** 2 + (ci - cj) ** 2) / (2 * 5.0 ** 2))
    expected = out_proj(block, per_head_attention(k, k, v, block.attn.num_heads, bias=bias))
    assert torch.allclose(NACLIPLastBlock(gaussian_std=5.0)(block, tokens, grid), expected, atol=1e-5)


def test_vanilla_block_is_clip(vit, tokens):
    block = vit.visual.transformer.resblocks[-1]
    assert torch.equal(VanillaLastBlock()(block, tokens, (3, 5)), block(tokens))


def test_vit_dense_class_token_matches_clip_image_embedding(vit):
    encoder = DenseCLIPVision(vit.visual)
    image = torch.randn(2, 3, 32, 32)
    features = encoder(image, levels=(0, 1))
    assert features.dense.shape == (2, 32, 4, 4)
    assert [level.shape for level in features.levels] == [(2, 64, 4, 4)] * 2
    cls = vit.visual.ln_post(features.tokens[:, 0]) @ vit.visual.proj
    assert torch.allclose(cls, vit.encode_image(image), atol=1e-5)


@pytest.mark.parametrize('mode', ['exact', 'offset'])
def test_vit_any_input_size(vit, mode):
    encoder = DenseCLIPVision(vit.visual, last_block=SCLIPLastBlock(), pos_interpolation=mode)
    assert encoder(torch.randn(1, 3, 40, 72)).dense.shape == (1, 32, 5, 9)


def test_pos_embed_offset_interpolation_uses_the_scale_factor():
    torch.manual_seed(0)
    table = torch.randn(1 + 16, 8)
    out = interpolate_pos_embed(table, (6, 7), 'offset')
    grid = table[1:].reshape(1, 4, 4, 8).permute(0, 3, 1, 2)
    by_scale = F.interpolate(grid, scale_factor=(6.1 / 4, 7.1 / 4), mode='bicubic', align_corners=False,
                             recompute_scale_factor=False)
    by_size = F.interpolate(grid, size=(6, 7), mode='bicubic', align_corners=False)
    assert torch.allclose(out[1:], by_scale.permute(0, 2, 3, 1).reshape(42, 8))
    assert torch.equal(out[0], table[0])
    assert not torch.allclose(by_scale, by_size, atol=1e-3)  # the two references really differ
    exact = interpolate_pos_embed(table, (6, 7), 'exact')
    assert torch.allclose(exact[1:], by_size.permute(0, 2, 3, 1).reshape(42, 8))
    assert interpolate_pos_embed(table, (4, 4), 'offset') is table


def test_resnet_dense_is_attention_pool_value_path():
    torch.manual_seed(0)
    model = build_clip('test-tiny-rn', None)
    encoder = DenseCLIPVision(model.visual)
    image = torch.randn(1, 3, 96, 64)
    features = encoder(image, levels=(0, 3))
    visual = model.visual
    x = image
    for layer in (visual.conv1, visual.bn1, visual.act1, visual.conv2, visual.bn2, visual.act2, visual.conv3,
                  visual.bn3, visual.act3, visual.avgpool, visual.layer1, visual.layer2, visual.layer3,
                  visual.layer4):
        x = layer(x)
    pool = visual.attnpool
    expected = pool.c_proj(pool.v_proj(x.permute(0, 2, 3, 1))).permute(0, 3, 1, 2)
    assert torch.allclose(features.dense, expected, atol=1e-5)
    assert features.dense.shape == (1, 32, 3, 2)
    assert len(features.levels) == 2
    assert encoder.patch_size == 32


def test_convnext_dense_features():
    torch.manual_seed(0)
    model = build_clip('test-tiny-convnext', None)
    encoder = DenseCLIPVision(model.visual)
    image = torch.randn(1, 3, 64, 96)
    features = encoder(image, levels=(0, 1, 2, 3))
    assert features.dense.shape == (1, 32, 2, 3)
    assert [level.shape[1] for level in features.levels] == encoder.level_channels
    # Per position: timm's trunk features, the trunk head's norm, then CLIP's projection head (as FC-CLIP).
    trunk = model.visual.trunk
    normed = trunk.head.norm(trunk.forward_features(image))
    expected = model.visual.head(normed.permute(0, 2, 3, 1)).permute(0, 3, 1, 2)
    assert torch.allclose(features.dense, expected, atol=1e-5)


def test_last_block_needs_a_vit():
    model = build_clip('test-tiny-rn', None)
    with pytest.raises(ValueError, match='needs a ViT'):
        DenseCLIPVision(model.visual, last_block=SCLIPLastBlock())
