"""TextClassifierHead: cosine of the projected features with the class-name embeddings, best synonym per class,
training and test vocabularies."""
import torch
import torch.nn.functional as F

from clipdense.models.clip import ClassEmbeddings, Vocabulary
from clipdense.models.heads import TextClassifierHead


def classes(vocabulary, dim=8, seed=0):
    vocabulary = Vocabulary.parse(vocabulary)
    embeddings = F.normalize(torch.randn(len(vocabulary.names), dim, generator=torch.Generator().manual_seed(seed)),
                             dim=-1)
    return ClassEmbeddings(embeddings, torch.tensor(vocabulary.name_to_class), vocabulary)


def head():
    torch.manual_seed(0)
    return TextClassifierHead(embed_dim=8, in_channels=4, channels=6, num_classes=3, num_convs=1,
                              dropout_ratio=0.0, logit_scale=20.0, norm_cfg=dict(type='BN'))


def test_scores_are_the_scaled_cosine_of_the_best_synonym():
    model = head().eval()
    test = classes('cat;kitten,dog,sky;heaven;air')
    model.set_class_embeddings(test)
    features = torch.randn(2, 4, 3, 5)
    scores = model([features])
    projected = F.normalize(model.conv_seg(model.convs(features)), dim=1)
    cosine = torch.einsum('bchw,nc->bnhw', projected, test.embeddings)
    expected = torch.stack([cosine[:, 0:2].amax(1), cosine[:, 2], cosine[:, 3:6].amax(1)], dim=1) * 20.0
    assert scores.shape == (2, 3, 3, 5)
    assert torch.allclose(scores, expected, atol=1e-5)


def test_training_and_test_vocabularies():
    model = head()
    model.set_class_embeddings(classes('cat,dog,sky,road'), training=False)
    model.set_class_embeddings(classes('cat,sky', seed=1), training=True)
    assert model.num_classes == model.out_channels == 4
    features = torch.randn(1, 4, 2, 2)
    assert model.train()([features]).shape[1] == 2
    assert model.eval()([features]).shape[1] == 4


def test_logit_scale_is_learned_when_asked():
    model = head()
    model.set_class_embeddings(classes('cat,dog'), training=True)
    model.train()([torch.randn(2, 4, 2, 2)]).sum().backward()
    assert model.log_logit_scale.grad is not None
    fixed = TextClassifierHead(embed_dim=8, in_channels=4, channels=6, num_classes=2, learn_logit_scale=False)
    assert not fixed.log_logit_scale.requires_grad
