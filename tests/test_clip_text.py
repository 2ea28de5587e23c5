import pytest
import torch
import torch.nn.functional as F

from clipdense.models.clip import TextClassifier, Vocabulary, build_clip, max_over_synonyms, resolve_templates


@pytest.fixture(scope='module')
def clip_model():
    torch.manual_seed(0)
    return build_clip('test-tiny-vit', None)


def test_context_cut_equals_full_context(clip_model):
    classifier = TextClassifier(clip_model, 'imagenet80', clip_name='test-tiny-vit', cache_dir=None)
    prompts = ['a photo of a cat.', 'a very long and winding description of a tiny dog on a sofa.', 'sky']
    cut = classifier.encode_prompts(prompts)
    tokens = classifier.tokenizer(prompts)
    assert int(tokens.argmax(-1).max()) + 1 < tokens.shape[1]  # the cut is real
    full = clip_model.encode_text(tokens)
    assert torch.allclose(cut, full, atol=1e-5)


def test_name_embedding_is_renormalised_template_mean(clip_model):
    classifier = TextClassifier(clip_model, ['a photo of a {}.', 'a {} in the scene.'], clip_name='test-tiny-vit',
                                cache_dir=None)
    embedding = classifier.encode_names(['zebra'])[0]
    per_template = F.normalize(clip_model.encode_text(classifier.tokenizer(
        ['a photo of a zebra.', 'a zebra in the scene.'])), dim=-1)
    expected = F.normalize(per_template.mean(0), dim=-1)
    assert torch.allclose(embedding, expected, atol=1e-5)


def test_disk_cache_is_used_and_keyed_by_names_and_templates(clip_model, tmp_path, monkeypatch):
    classifier = TextClassifier(clip_model, 'photo', clip_name='test-tiny-vit', cache_dir=str(tmp_path))
    first = classifier(['cat', 'dog'])
    assert len(list(tmp_path.iterdir())) == 1
    fresh = TextClassifier(clip_model, 'photo', clip_name='test-tiny-vit', cache_dir=str(tmp_path))
    monkeypatch.setattr(fresh, 'encode_prompts', lambda prompts: pytest.fail('cache missed'))
    assert torch.equal(fresh(['cat', 'dog']).embeddings, first.embeddings)
    other_templates = TextClassifier(clip_model, 'identity', clip_name='test-tiny-vit', cache_dir=str(tmp_path))
    other_templates(['cat', 'dog'])
    classifier(['cat', 'bird'])
    assert len(list(tmp_path.iterdir())) == 3


def test_cache_key_follows_the_weights(clip_model, tmp_path):
    other = build_clip('test-tiny-vit', None)  # different random weights
    a = TextClassifier(clip_model, 'photo', clip_name='test-tiny-vit', cache_dir=str(tmp_path))(['cat'])
    b = TextClassifier(other, 'photo', clip_name='test-tiny-vit', cache_dir=str(tmp_path))(['cat'])
    assert not torch.allclose(a.embeddings, b.embeddings)


def test_cache_key_follows_how_a_name_style_rewrites(clip_model, monkeypatch):
    """A name style whose rewriting changes (RegionCLIP's learned LVIS's get_cls_names) misses the old cache."""
    from clipdense.models.clip import templates
    classifier = TextClassifier(clip_model, 'photo', clip_name='test-tiny-vit', cache_dir=None, name_style='regionclip')
    before = classifier._cache_key(['speaker_(stereo_equipment)'])
    monkeypatch.setitem(templates.NAME_STYLES, 'regionclip', lambda name: name.replace(',', ''))
    assert classifier._cache_key(['speaker_(stereo_equipment)']) != before


def test_cache_key_follows_the_activation():
    """GELU and QuickGELU towers share their tensors (and fingerprint) but not their embeddings: a cache written by
    one must not serve the other."""
    from open_clip.transformer import QuickGELU
    quick = build_clip('test-tiny-vit', None)
    gelu = build_clip('test-tiny-vit', None)
    gelu.load_state_dict(quick.state_dict())
    for block in gelu.transformer.resblocks:
        block.mlp.gelu = torch.nn.GELU()
    assert any(isinstance(module, QuickGELU) for module in quick.transformer.modules())
    keys = [TextClassifier(model, 'photo', clip_name='test-tiny-vit', cache_dir=None)._cache_key(['cat'])
            for model in (quick, gelu)]
    assert keys[0] != keys[1]


def test_vocabulary_larger_than_one_text_batch(clip_model):
    names = [f'thing {i}' for i in range(23)]
    small_batches = TextClassifier(clip_model, 'photo', clip_name='test-tiny-vit', cache_dir=None, batch_size=5)
    one_batch = TextClassifier(clip_model, 'photo', clip_name='test-tiny-vit', cache_dir=None, batch_size=100)
    assert torch.allclose(small_batches(names).embeddings, one_batch(names).embeddings, atol=1e-5)


def test_vocabulary_forms(tmp_path):
    path = tmp_path / 'classes.txt'
    path.write_text('sky, wall, tree\nperson, person in shirt\nbed \ncat')  # no final newline, trailing space
    vocabulary = Vocabulary.from_file(str(path))
    assert vocabulary.classes == (('sky', 'wall', 'tree'), ('person', 'person in shirt'), ('bed ',), ('cat',))
    assert vocabulary.name_to_class == [0, 0, 0, 1, 1, 2, 3]
    assert vocabulary.class_names == ['sky', 'person', 'bed', 'cat']
    assert Vocabulary.parse('person;man;woman, dog,sofa').classes == (('person', 'man', 'woman'), ('dog',),
                                                                       ('sofa',))
    assert Vocabulary.parse(['cat', ['dog', 'puppy']]).names == ['cat', 'dog', 'puppy']
    assert Vocabulary.parse(str(path)) == vocabulary


@pytest.mark.parametrize('spec,message', [
    ('', 'vocabulary is empty'), ([], 'vocabulary is empty'), ('cat,dog,cat', "duplicate class name 'cat'"),
    (['cat', ['cat', 'kitty']], "duplicate class name 'cat'"), ('cat,,dog', 'empty name'), (None, 'no vocabulary'),
])
def test_bad_vocabularies(spec, message):
    with pytest.raises(ValueError, match=message):
        Vocabulary.parse(spec)


def test_missing_vocabulary_file_is_an_error():
    with pytest.raises(FileNotFoundError, match='nowhere/classes.txt'):
        Vocabulary.parse('nowhere/classes.txt')


def test_a_name_shared_by_two_classes_ties_to_the_lower_class():
    # SCLIP's COCO-Object file lists 'bed' among the background words (class 0) and as class 60.
    vocabulary = Vocabulary.parse([['sky', 'bed'], 'cat', 'bed'])
    assert vocabulary.shared_names == {'bed': [0, 2]}
    probs = torch.tensor([0.1, 0.5, 0.1, 0.5]).view(1, 4, 1, 1)  # per name: sky, bed, cat, bed
    per_class = max_over_synonyms(probs, torch.tensor(vocabulary.name_to_class), 3)
    assert per_class.argmax(1).item() == 0


def test_bad_templates():
    with pytest.raises(KeyError, match='unknown template set'):
        resolve_templates('imagenet81')
    with pytest.raises(ValueError, match='exactly one'):
        resolve_templates(['a photo'])


def test_max_over_synonyms():
    scores = torch.tensor([[0.1, 0.7, 0.2, 0.5]]).view(1, 4, 1, 1)
    out = max_over_synonyms(scores, torch.tensor([0, 0, 1, 1]), 2)
    assert out.flatten().tolist() == pytest.approx([0.7, 0.5])
