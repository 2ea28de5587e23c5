import numpy as np
import pytest
import torch
import torch.nn.functional as F
from mmseg.structures import SegDataSample

from clipdense.apis import read_image
from clipdense.models.refinement import PAMR
from clipdense.models.segmentors import TrainingFreeSegmentor
from clipdense.models.segmentors.postprocess import label_map, names_to_class_probs, suppress_small_classes
from clipdense.models.utils import SlidingWindow, window_grid
from clipdense.models.utils.sliding_window import divided_into_contiguous
from clipdense.ops import bilinear_resize, resize_bilinear
from clipdense.registry import register_all_modules

register_all_modules()


def segmentor(**kwargs):
    torch.manual_seed(0)
    args = dict(clip=dict(name='test-tiny-vit', pretrained=None), vocabulary='cat,dog;puppy,sky',
                last_block=dict(type='SCLIPLastBlock'), templates='photo', crop_size=32, stride=16,
                text_cache_dir=None)
    args.update(kwargs)
    return TrainingFreeSegmentor(**args).eval()


def test_window_grid_matches_mmseg_rule():
    assert window_grid(48, 40, (32, 32), (16, 16)) == [(0, 32, 0, 32), (0, 32, 8, 40), (16, 48, 0, 32),
                                                       (16, 48, 8, 40)]
    assert window_grid(20, 20, (32, 32), (16, 16)) == [(0, 20, 0, 20)]


def test_batched_windows_equal_one_window_at_a_time():
    torch.manual_seed(0)
    images = torch.randn(2, 3, 40, 56)
    conv = torch.nn.Conv2d(3, 5, 3, padding=1)

    def logits(windows):
        return conv(windows)

    batched = SlidingWindow((32, 32), (16, 16), windows_per_batch=3)(images, [(40, 56), (33, 50)], logits)
    for index, (height, width) in enumerate([(40, 56), (33, 50)]):
        total = torch.zeros(5, height, width)
        count = torch.zeros(1, height, width)
        for y1, y2, x1, x2 in window_grid(height, width, (32, 32), (16, 16)):
            total[:, y1:y2, x1:x2] += conv(images[index:index + 1, :, y1:y2, x1:x2])[0]
            count[:, y1:y2, x1:x2] += 1
        assert torch.allclose(batched[index], total / count, atol=1e-6)


def test_channels_last_window_logits_merge_bit_for_bit():
    """Window logits from a matmul with the text are channels-last; the canvas follows their layout (fast) and the
    merged maps are the same bits as a class-major merge in window order, handed back contiguous."""
    torch.manual_seed(0)
    images = torch.randn(1, 3, 40, 56)
    text = torch.randn(7, 3)

    def logits(windows):  # (N, 7, h, w) with classes innermost, as the cosine of token features with the text
        return (windows.permute(0, 2, 3, 1) @ text.T).permute(0, 3, 1, 2)

    assert not logits(images).is_contiguous()
    merged = SlidingWindow((32, 32), (16, 16))(images, [(40, 56)], logits)[0]
    total, count = torch.zeros(7, 40, 56), torch.zeros(1, 40, 56)
    for y1, y2, x1, x2 in window_grid(40, 56, (32, 32), (16, 16)):
        total[:, y1:y2, x1:x2] += logits(images[:, :, y1:y2, x1:x2])[0].contiguous()
        count[:, y1:y2, x1:x2] += 1
    assert merged.is_contiguous() and torch.equal(merged, total / count)
    canvas = total.permute(1, 2, 0).contiguous().permute(2, 0, 1)  # blocks of 3 rows, the last one short
    blocked = divided_into_contiguous(canvas, count, block_bytes=3 * 7 * 56 * 4)
    assert blocked.is_contiguous() and torch.equal(blocked, total / count)


@pytest.mark.parametrize('crop', [32, 80])  # PyTorch's channels-last kernel resizes 32 x 32 maps, its generic 80 x 80
@pytest.mark.parametrize('compiled', [True, False])
def test_windows_resized_while_merging_are_bit_for_bit(monkeypatch, crop, compiled):
    """Each window's low-resolution logits are resized and added inside the merge (by the compiled kernel, or by
    PyTorch a few classes at a time): the same bits as resizing whole windows with F.interpolate first and merging
    them in window order, on one thread and on two."""
    if not compiled:
        monkeypatch.setattr(bilinear_resize, 'compiled_matches_torch', lambda: False)
    # PyTorch's pieces: 5 classes, then 2 and 1 (a last piece of 3 would be resized otherwise on one thread).
    monkeypatch.setattr(bilinear_resize, 'PIECE_BYTES', 5 * crop * crop * 4)
    torch.manual_seed(0)
    height, width = crop + crop // 4, crop + crop * 3 // 4
    images = torch.randn(1, 3, height, width)
    conv = torch.nn.Conv2d(3, 8, 8, stride=8).requires_grad_(False)  # logits on an 8-pixel grid

    def to_window(logits, size, add_to):
        resize_bilinear(logits, size, add_to=add_to)

    stride = (crop // 2, crop // 2)
    previous = torch.get_num_threads()
    try:
        for threads in (1, 2):
            torch.set_num_threads(threads)
            merged = SlidingWindow((crop, crop), stride)(images, [(height, width)], conv, to_window)[0]
            total, count = torch.zeros(8, height, width), torch.zeros(1, height, width)
            for y1, y2, x1, x2 in window_grid(height, width, (crop, crop), stride):
                logits = conv(images[:, :, y1:y2, x1:x2])
                total[:, y1:y2, x1:x2] += F.interpolate(logits, size=(crop, crop), mode='bilinear',
                                                        align_corners=False)[0]
                count[:, y1:y2, x1:x2] += 1
            assert torch.equal(merged, total / count), threads
    finally:
        torch.set_num_threads(previous)


def test_center_padding_crops_and_corner_padding_squeezes():
    model = segmentor(window_padding='center')
    window = torch.randn(1, 3, 20, 28)  # patch 8: pad to 24 x 32, 2 rows top / 2 bottom, 2 cols left / 2 right
    features = F.normalize(model.encoder(F.pad(window, (2, 2, 2, 2))).dense, dim=1)
    cosine = torch.einsum('ndhw,qd->nqhw', features, model.name_embeddings)
    expected = F.interpolate(cosine, size=(24, 32), mode='bilinear', align_corners=False)[:, :, 2:22, 2:30]
    assert torch.allclose(model.window_cosine(window), expected, atol=1e-5)

    model = segmentor(window_padding='corner', mode='whole')
    features = F.normalize(model.encoder(F.pad(window, (0, 4, 0, 4))).dense, dim=1)
    cosine = torch.einsum('ndhw,qd->nqhw', features, model.name_embeddings)
    expected = F.interpolate(cosine, size=(20, 28), mode='bilinear', align_corners=False)
    assert torch.allclose(model.window_cosine(window), expected, atol=1e-5)


def test_predict_returns_class_probabilities_and_labels_at_original_size():
    model = segmentor()
    inputs = torch.randn(1, 3, 40, 48)
    sample = SegDataSample(metainfo=dict(img_shape=(40, 48), ori_shape=(80, 96)))
    result = model.predict(inputs, [sample])[0]
    assert result.seg_logits.data.shape == (3, 80, 96)
    assert result.pred_sem_seg.data.shape == (1, 80, 96)
    assert torch.equal(result.pred_sem_seg.data[0], result.seg_logits.data.argmax(0))


def test_synonyms_take_the_best_name_after_a_softmax_over_all_names():
    cosine = torch.tensor([0.1, 0.5, 0.3, 0.2]).view(4, 1, 1)
    probs = names_to_class_probs(cosine.clone(), torch.tensor([0, 1, 1, 2]), 3, logit_scale=10.0)
    all_names = torch.softmax(cosine.flatten() * 10, 0)
    assert torch.allclose(probs.flatten(), torch.stack([all_names[0], all_names[1], all_names[3]]))


@pytest.mark.parametrize('threads', [1, 2, 3])
def test_probabilities_written_over_the_logits_keep_the_softmax_bits(threads):
    """On a CPU the softmax overwrites the scaled logits. Its kernel treats the last few pixels of each thread's
    share with scalar code: sizes and thread counts here put pixels in both paths."""
    previous = torch.get_num_threads()
    torch.set_num_threads(threads)
    try:
        for shape in [(150, 37, 53), (7, 1, 5), (3, 16, 16), (40, 9, 130)]:
            cosine = torch.randn(shape).clamp_(-1, 1)
            expected = (cosine * 40.0).softmax(0)
            spent = cosine.clone()
            probs = names_to_class_probs(spent, torch.arange(shape[0]), shape[0], logit_scale=40.0)
            assert torch.equal(probs, expected)
            assert probs.data_ptr() == spent.data_ptr()  # no second full-resolution map
    finally:
        torch.set_num_threads(previous)


def test_area_threshold_keeps_background_and_large_classes():
    probs = torch.zeros(3, 10, 10)
    probs[0, :5] = 0.9  # background rows 0-4
    probs[1, 5:] = 0.8  # class 1: 45 pixels
    probs[2, 5:, :1] = 0.95  # class 2: 5 pixels = 10 % of the 50 foreground pixels: not strictly more
    out = suppress_small_classes(probs.clone(), 0.1, background=0)
    assert out[2].sum() == 0 and torch.equal(out[0], probs[0]) and torch.equal(out[1], probs[1])
    assert suppress_small_classes(probs.clone(), 0.09, background=0)[2].sum() > 0


def test_prob_threshold_sends_uncertain_pixels_to_background():
    probs = torch.tensor([[0.2, 0.1], [0.3, 0.8], [0.5, 0.1]]).view(3, 1, 2)
    assert label_map(probs, 0.6, background=0).flatten().tolist() == [0, 1]
    with pytest.raises(ValueError, match='background'):
        label_map(probs, 0.6, background=None)


def test_prob_threshold_without_background_is_refused():
    with pytest.raises(ValueError, match='background_class is None'):
        segmentor(prob_thd=0.1)


def naive_pamr(guide, scores, steps, dilations):
    """PAMR written pixel by pixel from its definition."""
    _, channels, height, width = guide.shape
    offsets = [(dy, dx) for d in dilations for dy in (-d, 0, d) for dx in (-d, 0, d) if dy or dx]

    def at(t, y, x):
        return t[0, :, min(max(y, 0), height - 1), min(max(x, 0), width - 1)]

    weights = torch.zeros(len(offsets), height, width)
    for y in range(height):
        for x in range(width):
            samples = []
            for d in dilations:
                samples.append(at(guide, y, x))
                samples += [at(guide, y + dy, x + dx) for dy in (-d, 0, d) for dx in (-d, 0, d) if dy or dx]
            sigma = torch.stack(samples).std(dim=0, unbiased=True)
            logits = torch.stack([(-(at(guide, y, x) - at(guide, y + dy, x + dx)).abs()
                                   / (1e-8 + 0.1 * sigma)).mean() for dy, dx in offsets])
            weights[:, y, x] = logits.softmax(0)
    for _ in range(steps):
        refined = torch.zeros_like(scores)
        for y in range(height):
            for x in range(width):
                refined[0, :, y, x] = sum(weights[n, y, x] * at(scores, y + dy, x + dx)
                                          for n, (dy, dx) in enumerate(offsets))
        scores = refined
    return scores


def test_pamr_matches_its_definition():
    torch.manual_seed(0)
    guide, scores = torch.randn(1, 3, 9, 11), torch.randn(1, 4, 9, 11)
    expected = naive_pamr(guide, scores, steps=2, dilations=(1, 2))
    assert torch.allclose(PAMR(steps=2, dilations=(1, 2))(guide, scores), expected, atol=1e-5)
    assert PAMR(steps=0)(guide, scores) is scores


def test_pamr_steps_compose_and_leave_the_input_alone():
    """The steps alternate between two buffers: odd and even step counts give what one step at a time gives,
    and the caller's scores are never written."""
    torch.manual_seed(0)
    guide, scores = torch.randn(1, 3, 12, 10), torch.randn(2, 5, 12, 10)
    guide = guide.expand(2, -1, -1, -1)
    kept = scores.clone()
    one_at_a_time = scores
    for steps in range(1, 4):
        one_at_a_time = PAMR(steps=1, dilations=(1, 3))(guide, one_at_a_time)
        assert torch.equal(PAMR(steps=steps, dilations=(1, 3))(guide, scores), one_at_a_time)
    assert torch.equal(scores, kept)


def test_vocabulary_can_change_at_run_time():
    model = segmentor()
    model.set_vocabulary(['tree', 'road'])
    assert model.dataset_meta['classes'] == ('tree', 'road')
    result = model.predict(torch.randn(1, 3, 32, 32))[0]
    assert result.seg_logits.data.shape[0] == 2


@pytest.mark.parametrize('direction', ['horizontal', 'vertical'])
def test_flipped_inputs_are_flipped_back(direction):
    """A flipped input with mmseg's flip meta gives the flipped-back prediction of that input (PAMR's guide is
    flipped back too)."""
    model = segmentor(refinement=dict(type='PAMR', steps=2, dilations=(1, 2)))
    flipped = torch.randn(1, 3, 40, 56)
    meta = dict(img_shape=(40, 56), ori_shape=(40, 56))
    plain = model.predict(flipped, [SegDataSample(metainfo=meta)])[0]
    unflipped = model.predict(flipped, [SegDataSample(metainfo=dict(meta, flip=True, flip_direction=direction))])[0]
    dim = 2 if direction == 'horizontal' else 1
    assert torch.equal(unflipped.pred_sem_seg.data, plain.pred_sem_seg.data.flip(dims=(dim,)))
    assert torch.allclose(unflipped.seg_logits.data, plain.seg_logits.data.flip(dims=(dim,)), atol=1e-6)


def test_flip_test_time_augmentation_runs_through_mmseg():
    """mmseg's SegTTAModel merges the original and the flipped image (the mean of softmax(seg_logits), its rule for
    any segmentor; seg_logits are probabilities here, so agreeing views keep their label)."""
    from mmseg.models import SegTTAModel
    model = segmentor(data_preprocessor=dict(type='SegDataPreProcessor'))
    image = torch.randn(3, 40, 56)
    views = [SegDataSample(metainfo=dict(img_shape=(40, 56), ori_shape=(40, 56), img_path=None, flip=flip,
                                         flip_direction='horizontal')) for flip in (False, True)]
    merged = SegTTAModel(module=model).test_step(dict(inputs=[[image], [image.flip(-1)]],
                                                      data_samples=[[views[0]], [views[1]]]))[0]
    plain = model.predict(image[None])[0].seg_logits.data
    mirrored = model.predict(image.flip(-1)[None])[0].seg_logits.data.flip(-1)
    expected = (plain.softmax(dim=0) + mirrored.softmax(dim=0)).argmax(dim=0, keepdim=True)
    assert torch.equal(merged.pred_sem_seg.data, expected)


def test_image_smaller_than_a_patch():
    model = segmentor(mode='whole')
    with pytest.raises(ValueError, match='smaller than the CLIP patch'):
        model.predict(torch.randn(1, 3, 5, 40))
    padded = segmentor(mode='whole', window_padding='center')
    assert padded.predict(torch.randn(1, 3, 5, 40))[0].pred_sem_seg.data.shape == (1, 5, 40)


def test_training_free_has_nothing_to_train():
    with pytest.raises(RuntimeError, match='training-free'):
        segmentor().loss(torch.randn(1, 3, 32, 32), [])


@pytest.mark.parametrize('shape', [(30, 40), (30, 40, 1), (30, 40, 4)])
def test_grayscale_and_rgba_images_become_three_channels(shape):
    image = np.random.RandomState(0).randint(0, 255, shape, dtype=np.uint8)
    assert read_image(image).shape == (30, 40, 3)


def test_unreadable_image(tmp_path):
    path = tmp_path / 'broken.png'
    path.write_bytes(b'not an image')
    with pytest.raises(ValueError, match='cannot read image .*broken.png'):
        read_image(str(path))
    with pytest.raises(FileNotFoundError, match='missing.png'):
        read_image(str(tmp_path / 'missing.png'))


def naive_maskclip_refine(logits, keys, ks_thresh, pd_thresh):
    """MaskCLIP's refine_output, written out per class and per position."""
    logits = logits.clone()
    names, height, width = logits.shape[1:]
    probs = torch.softmax(logits * 100, dim=1)
    for c in range(names):
        if probs[0, c].max() < pd_thresh:
            logits[0, c] = -100
    probs = torch.softmax(logits * 100, dim=1)[0].flatten(1).T  # (hw, names)
    norms = keys[0].pow(2).sum(dim=0).sqrt()  # over positions
    unit = keys[0] / norms
    out = probs.clone()
    for p in range(height * width):
        if probs[p].max() < ks_thresh:
            out[p] = sum((unit[p] @ unit[q]) * probs[q] for q in range(height * width))
    return out.T.reshape(1, names, height, width)


def test_maskclip_refinement_matches_its_definition():
    from clipdense.models.refinement import MaskCLIPRefinement
    torch.manual_seed(0)
    logits, keys = torch.randn(1, 4, 3, 5) * 0.05, torch.randn(1, 15, 8)
    refine = MaskCLIPRefinement(ks_thresh=0.9, pd_thresh=0.5)
    assert torch.allclose(refine(logits, keys), naive_maskclip_refine(logits, keys, 0.9, 0.5), atol=1e-5)


@pytest.mark.parametrize('clip_name', ['test-tiny-vit', 'test-tiny-rn'])
def test_maskclip_keys_reach_the_refinement(clip_name):
    last_block = dict(type='MaskCLIPLastBlock') if clip_name == 'test-tiny-vit' else None
    model = segmentor(clip=dict(name=clip_name, pretrained=None), last_block=last_block, mode='whole',
                      window_padding='corner', logit_scale=1.0, pos_interpolation='exact',
                      window_refinement=dict(type='MaskCLIPRefinement', ks_thresh=1.0, pd_thresh=0.5))
    window = torch.randn(1, 3, 64, 64)
    features = model.encoder(window, keys=True)
    assert features.keys.shape[:2] == (1, features.dense.shape[2] * features.dense.shape[3])
    plain = segmentor(clip=dict(name=clip_name, pretrained=None), last_block=last_block, mode='whole',
                      window_padding='corner', logit_scale=1.0, pos_interpolation='exact')
    assert not torch.allclose(model.window_cosine(window), plain.window_cosine(window))
