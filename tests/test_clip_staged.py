"""The staged CLIP towers: every composition of stages equals open_clip's own forward, extra tokens and attention
biases behave as documented, gradients flow only where asked, and open_clip's gradient checkpointing is honoured."""
import pytest
import torch
import torch.nn.functional as F

from clipdense.models.clip import (ImageTooSmallError, StagedConvNeXt, StagedModifiedResNet, StagedViT, build_clip,
                                   insert_tokens, interpolate_pos_embed, staged_vision)


@pytest.fixture(scope='module')
def vit():
    torch.manual_seed(0)
    return build_clip('test-tiny-vit', None)


@pytest.fixture(scope='module')
def resnet():
    torch.manual_seed(0)
    return build_clip('test-tiny-rn', None)


@pytest.fixture(scope='module')
def convnext():
    torch.manual_seed(0)
    return build_clip('test-tiny-convnext', None)


def images(*shape, seed=1):
    return torch.randn(*shape, generator=torch.Generator().manual_seed(seed))


# ---- ViT ------------------------------------------------------------------------------------------------------
def test_vit_stages_compose_to_encode_image(vit):
    staged = staged_vision(vit.visual)
    assert isinstance(staged, StagedViT)
    x = images(2, 3, 32, 32)
    assert torch.equal(staged(x), vit.encode_image(x))
    tokens, grid = staged.embed(x)
    assert grid == (4, 4) and tokens.shape == (2, 17, 64)
    first, _ = staged.run_blocks(tokens, 0, 1)
    both, _ = staged.run_blocks(first, 1, 2)
    assert torch.equal(staged.project(both[:, 0]), vit.encode_image(x))


def test_vit_intermediate_states_include_the_class_token(vit):
    staged = StagedViT(vit.visual)
    x = images(2, 3, 32, 32)
    _, states = staged.run_blocks(staged.embed(x)[0], keep=(0, 1))
    reference = vit.visual.forward_intermediates(x, indices=[0, 1], output_fmt='NLC', output_extra_tokens=True)
    for index in (0, 1):
        assert torch.equal(states[index][:, 1:], reference['image_intermediates'][index])
        assert torch.equal(states[index][:, :1], reference['image_intermediates_prefix'][index])


def test_vit_blocks_run_on_any_token_sequence_with_a_bias(vit):
    """Queries appended after the patches, which CLS and patches must not see (-inf in their columns, SAN's
    layout): CLS and patches come out as without the queries; with a per-image-and-head bias of the same kind the
    queries' own outputs follow the bias."""
    staged = StagedViT(vit.visual)
    tokens, _ = staged.embed(images(2, 3, 32, 32))
    queries = images(3, 64, seed=2)
    x = insert_tokens(tokens, queries, tokens.shape[1])
    assert torch.equal(x[:, 17:], queries.expand(2, -1, -1))
    length = x.shape[1]
    bias = torch.zeros(length, length)
    bias[:17, 17:] = float('-inf')
    out, _ = staged.run_blocks(x, attn_mask=bias)
    alone, _ = staged.run_blocks(tokens)
    assert torch.allclose(out[:, :17], alone, atol=1e-5)
    per_head = bias.expand(2 * staged.num_heads, -1, -1).clone()
    per_head[:, 17:, 1:17] = float('-inf')  # queries see only CLS and each other
    masked, _ = staged.run_blocks(x, attn_mask=per_head)
    assert torch.allclose(masked[:, :17], alone, atol=1e-5)
    assert not torch.allclose(masked[:, 17:], out[:, 17:], atol=1e-3)


def test_vit_blocks_under_bf16_autocast_take_sdpa_with_the_same_attention_and_bias(vit):
    """Under a lowered autocast the plain blocks run through SDPA (``run_block``): the outputs are open_clip's
    fp32 blocks' within bf16 error, also with an additive bias per image and head whose heads differ (a bias
    applied to the wrong image or head would be far off); at fp32 they are open_clip's own forward, bit for bit."""
    from clipdense.models.clip.staged_vit import plain_attention_block, run_block
    staged = StagedViT(vit.visual)
    tokens, _ = staged.embed(images(2, 3, 32, 32))
    heads, length = staged.num_heads, tokens.shape[1]
    bias = torch.zeros(2, heads, length, length)
    bias[0, 1, :, 5:] = float('-inf')  # image 0, head 1 sees only the first five tokens
    bias[1, 0, :, :9] = -30.0  # image 1, head 0 mostly ignores the first nine
    bias = bias.flatten(0, 1)
    block = staged.blocks[0]
    assert plain_attention_block(block)
    assert torch.equal(run_block(block, tokens, bias), block(tokens, attn_mask=bias))
    def error(output, expected):
        return (output.float() - expected).norm() / expected.norm()

    for mask in (None, bias):
        expected = block(tokens, attn_mask=mask)
        with torch.autocast('cpu', dtype=torch.bfloat16):
            lowered = run_block(block, tokens, mask)
            native = block(tokens, attn_mask=mask)
        assert error(lowered, expected) < 2 * error(native, expected) + 1e-3
    swapped = bias.view(2, heads, length, length).transpose(0, 1).flatten(0, 1)  # image 1's head 0 on image 0
    assert heads == 2 and not torch.equal(swapped, bias)
    with torch.autocast('cpu', dtype=torch.bfloat16):
        assert error(run_block(block, tokens, swapped), expected) > 10 * error(lowered, expected)


def test_vit_blocks_under_torch_compile_take_the_sdpa_form_at_fp32(vit, monkeypatch):
    """While torch.compile traces, the plain blocks take the SDPA form at fp32 too (with the fp32 weights): open_clip's
    outputs within fp32 rounding, also with a per-head bias."""
    from clipdense.models.clip import staged_vit
    staged = StagedViT(vit.visual)
    tokens, _ = staged.embed(images(2, 3, 32, 32))
    bias = torch.zeros(2 * staged.num_heads, tokens.shape[1], tokens.shape[1])
    bias[1, :, 4:] = float('-inf')
    block = staged.blocks[0]
    expected = block(tokens, attn_mask=bias)
    calls = []
    monkeypatch.setattr(staged_vit, 'lowered_copy', lambda param, dtype: calls.append('lowered_copy'))
    merge_heads = staged_vit.merge_heads
    monkeypatch.setattr(staged_vit, 'merge_heads', lambda x: calls.append('sdpa form') or merge_heads(x))
    monkeypatch.setattr(torch.compiler, 'is_compiling', lambda: True)
    with torch.no_grad():
        traced = staged_vit.run_block(block, tokens, bias)
    assert torch.allclose(traced, expected, atol=1e-5) and calls == ['sdpa form']


def test_lowered_copies_of_frozen_weights_are_autocasts_cast_made_once(vit, monkeypatch):
    """``run_block`` casts frozen weights once: the same bits as autocast casting them per call; a changed weight is
    cast again; a weight being trained is left to autocast."""
    from clipdense.models.clip import staged_vit
    staged = StagedViT(vit.visual)
    tokens, _ = staged.embed(images(2, 3, 32, 32))
    block = staged.blocks[1]
    with torch.no_grad(), torch.autocast('cpu', dtype=torch.bfloat16):
        cached = staged_vit.run_block(block, tokens)
        weight = block.mlp.c_fc.weight
        copy = staged_vit.lowered_copy(weight, torch.bfloat16)
        assert copy.dtype == torch.bfloat16 and staged_vit.lowered_copy(weight, torch.bfloat16) is copy
        with monkeypatch.context() as patch:
            patch.setattr(staged_vit, 'lowered_copy', lambda param, dtype: param)  # autocast casts per call
            assert torch.equal(staged_vit.run_block(block, tokens), cached)
        weight.mul_(2)
        recast = staged_vit.lowered_copy(weight, torch.bfloat16)
        assert torch.equal(recast, weight.to(torch.bfloat16)) and not torch.equal(recast, copy)
        weight.div_(2)
    trained = torch.nn.Parameter(torch.ones(3))
    assert staged_vit.lowered_copy(trained, torch.bfloat16) is trained


def test_vit_blocks_with_their_own_forward_keep_it_under_autocast(vit):
    from open_clip.transformer import ResidualAttentionBlock

    from clipdense.models.clip.staged_vit import plain_attention_block, run_block

    class Doubled(ResidualAttentionBlock):
        def forward(self, q_x, k_x=None, v_x=None, attn_mask=None):
            return 2 * q_x

    block = Doubled(64, 4)
    x = images(1, 5, 64)
    assert not plain_attention_block(block)
    with torch.autocast('cpu', dtype=torch.bfloat16):
        assert torch.equal(run_block(block, x), 2 * x)


def test_vit_tokens_inserted_after_the_class_token_and_replaced_before_blocks(vit):
    """ZegCLIP's deep prompts: inserted after CLS, then replaced by fresh ones before every later block."""
    staged = StagedViT(vit.visual)
    tokens, _ = staged.embed(images(1, 3, 32, 32))
    prompts = images(2, 2, 64, seed=3)  # one set per block
    seen = []

    def replace(index, x):
        seen.append(index)
        return torch.cat([x[:, :1], prompts[index].expand(1, -1, -1), x[:, 3:]], dim=1)

    x = insert_tokens(tokens, prompts[0], 1)
    out, _ = staged.run_blocks(x, before_block=replace)
    expected = x
    for index, block in enumerate(staged.blocks):
        expected = block(replace(index, expected))
    assert seen == [0, 1, 0, 1]
    assert torch.equal(out, expected)


def test_vit_gradients_flow_only_where_asked(vit):
    staged = StagedViT(vit.visual)
    vit.requires_grad_(False)
    prompts = torch.nn.Parameter(images(2, 64, seed=4))
    tokens, _ = staged.embed(images(1, 3, 32, 32))
    out, _ = staged.run_blocks(insert_tokens(tokens, prompts, 1))
    staged.project(out[:, 0]).sum().backward()
    assert prompts.grad is not None and prompts.grad.abs().sum() > 0
    assert all(p.grad is None for p in vit.parameters())
    assert not tokens.requires_grad  # the frozen embedding recorded no graph


def test_vit_honours_open_clip_grad_checkpointing(vit, monkeypatch):
    """With open_clip's flag set, blocks run under torch's checkpoint while a graph is recorded (same gradients);
    not under no_grad."""
    from clipdense.models.clip import staged_vit
    checkpointed = []

    def spy(function, *args, **kwargs):
        assert function is staged_vit.run_block
        checkpointed.append(args[0])  # the block
        return torch.utils.checkpoint.checkpoint(function, *args, **kwargs)

    monkeypatch.setattr(staged_vit, 'checkpoint', spy)
    staged = StagedViT(vit.visual)
    tokens, _ = staged.embed(images(1, 3, 32, 32))
    grads = []
    for enabled in (False, True):
        vit.visual.set_grad_checkpointing(enabled)
        prompts = torch.nn.Parameter(images(2, 64, seed=5))
        out, _ = staged.run_blocks(insert_tokens(tokens, prompts, 1))
        out.sum().backward()
        grads.append(prompts.grad)
    with torch.no_grad():
        staged.run_blocks(tokens)
    vit.visual.set_grad_checkpointing(False)
    assert checkpointed == list(staged.blocks)
    assert torch.allclose(grads[0], grads[1], atol=1e-6)


def test_vit_positional_embedding_modes_and_resize_once(vit):
    staged = StagedViT(vit.visual, pos_interpolation='bilinear')
    table = vit.visual.positional_embedding.detach().clone()
    expected = F.interpolate(table[1:].reshape(1, 4, 4, -1).permute(0, 3, 1, 2), size=(6, 5), mode='bilinear',
                             align_corners=False).permute(0, 2, 3, 1).reshape(30, -1)
    assert torch.allclose(staged.positional_embedding((6, 5))[1:], expected)
    assert torch.equal(staged.positional_embedding((6, 5), mode='exact'), interpolate_pos_embed(table, (6, 5)))
    clone = build_clip('test-tiny-vit', None)
    clone.load_state_dict(vit.state_dict())
    resized = StagedViT(clone.visual)
    resized.resize_positional_embedding_((6, 6), mode='bilinear')
    assert clone.visual.positional_embedding.shape == (37, 64)
    assert torch.allclose(clone.visual.positional_embedding, interpolate_pos_embed(table, (6, 6), 'bilinear'))
    x = images(1, 3, 48, 48)
    assert torch.equal(resized.embed(x)[0], StagedViT(vit.visual, 'bilinear').embed(x)[0])


def test_vit_refuses_inputs_smaller_than_a_patch(vit):
    with pytest.raises(ImageTooSmallError, match='smaller than the CLIP patch'):
        StagedViT(vit.visual).embed(images(1, 3, 4, 32))


# ---- ModifiedResNet --------------------------------------------------------------------------------------------
def test_resnet_stages_compose_to_encode_image(resnet):
    staged = staged_vision(resnet.visual)
    assert isinstance(staged, StagedModifiedResNet)
    x = images(2, 3, 64, 64)
    assert torch.equal(staged(x), resnet.encode_image(x))
    res4, states = staged.run_layers(staged.stem(x), 1, 3, keep=(2, 3))
    assert torch.equal(states[3], res4) and set(states) == {2, 3}
    res5, _ = staged.run_layers(res4, 4, 4)  # layer4 alone, as RegionCLIP runs it on RoI features
    assert torch.equal(staged.attention_pool(res5), resnet.encode_image(x))
    assert staged.layer_channels == (64, 128, 256, 512)


def test_resnet_attention_pool_on_maps_of_another_size(resnet):
    staged = StagedModifiedResNet(resnet.visual)
    pool = resnet.visual.attnpool
    roi_maps = images(3, 512, 3, 4, seed=6)
    pooled = staged.attention_pool(roi_maps)
    # The same pool with its positional embedding resized by hand.
    x = roi_maps.flatten(2).permute(2, 0, 1)
    x = torch.cat([x.mean(0, keepdim=True), x])
    pos = interpolate_pos_embed(pool.positional_embedding, (3, 4), 'exact')
    x = x + pos[:, None]
    q = pool.q_proj(x[:1])
    k, v = pool.k_proj(x), pool.v_proj(x)
    heads, dim = pool.num_heads, x.shape[-1] // pool.num_heads
    q, k, v = (t.reshape(t.shape[0], 3 * heads, dim).transpose(0, 1) for t in (q, k, v))
    attn = torch.softmax(q @ k.transpose(1, 2) / dim ** 0.5, dim=-1) @ v
    expected = pool.c_proj(attn.transpose(0, 1).reshape(1, 3, -1))[0]
    assert pooled.shape == (3, 32)
    assert torch.allclose(pooled, expected, atol=1e-5)


# ---- ConvNeXt ----------------------------------------------------------------------------------------------------
def test_convnext_stages_compose_to_encode_image(convnext):
    staged = staged_vision(convnext.visual)
    assert isinstance(staged, StagedConvNeXt)
    x = images(2, 3, 64, 64)
    assert torch.equal(staged(x), convnext.encode_image(x))
    early, states = staged.run_stages(staged.stem(x), 0, 2, keep=(0, 1))
    last, _ = staged.run_stages(early, 2)
    assert torch.equal(states[1], early)
    assert torch.equal(convnext.visual.head(convnext.visual.trunk.forward_head(last)), convnext.encode_image(x))
    # Pooling first (here over the whole map, as a mask covering everything) then the heads: CLIP's embedding.
    assert torch.allclose(staged.pooled_embedding(last.mean(dim=(2, 3))), convnext.encode_image(x), atol=1e-5)
    assert staged.dense_embedding(last).shape == (2, 32, 2, 2)


def test_convnext_pooled_embedding_of_a_mask(convnext):
    """Mask pooling of the last stage then the heads (FC-CLIP's out-of-vocabulary read-out) differs from reading
    the dense map under the mask: the per-position map is an approximation."""
    staged = StagedConvNeXt(convnext.visual)
    last, _ = staged.run_stages(staged.stem(images(1, 3, 128, 128)))
    mask = torch.zeros(4, 4)
    mask[:2, :3] = 1
    pooled = (last * mask).sum(dim=(2, 3)) / mask.sum()
    by_mask = staged.pooled_embedding(pooled)
    dense_then_pool = (staged.dense_embedding(last) * mask).sum(dim=(2, 3)) / mask.sum()
    assert by_mask.shape == (1, 32)
    assert not torch.allclose(by_mask, dense_then_pool, atol=1e-4)


def test_cnn_towers_refuse_inputs_smaller_than_their_stride(resnet, convnext):
    with pytest.raises(ImageTooSmallError):
        StagedModifiedResNet(resnet.visual).stem(images(1, 3, 16, 64))
    with pytest.raises(ImageTooSmallError):
        StagedConvNeXt(convnext.visual).stem(images(1, 3, 16, 64))
