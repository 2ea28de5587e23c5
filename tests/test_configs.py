"""The training-free configs (MaskCLIP, SCLIP, ClearCLIP, NACLIP): every file under
``configs/{maskclip,sclip,clearclip,naclip}`` loads, holds its reference's per-benchmark values (table
below, from the reference configs; see each folder's README), names a class file with the benchmark's
number of classes, and runs end to end through mmengine's Runner on a tiny synthetic copy of its
benchmark written in the real on-disk format.
"""
import uuid
from pathlib import Path

import numpy as np
import pytest
from mmengine.config import Config

REPO = Path(__file__).resolve().parents[1]
METHODS = ('maskclip', 'sclip', 'clearclip', 'naclip')
# The benchmark configs; the synthetic-world ones run in tests/test_synthetic_benchmark.py.
CONFIGS = sorted(path for method in METHODS for path in (REPO / 'configs' / method).glob('*.py')
                 if 'synthetic-world' not in path.stem)
VOCABULARIES = REPO / 'clipdense' / 'datasets' / 'vocabularies'
CLIP_MEAN_STD = ([122.771, 116.746, 104.094], [68.501, 66.632, 70.323])
IMAGENET_MEAN_STD = ([123.675, 116.28, 103.53], [58.395, 57.12, 57.375])

# benchmark: (dataset type, annotation loader, reduce_zero_label, metric ignore index)
BENCHMARKS = {
    'voc21': ('PascalVOCDataset', 'LoadAnnotations', False, 255),
    'context60': ('PascalContextDataset', 'LoadAnnotations', False, 255),
    'coco-object': ('COCOObjectDataset', 'LoadAnnotations', False, 255),
    'voc20': ('PascalVOC20Dataset', 'LoadAnnotations', True, 255),
    'context59': ('PascalContextDataset59', 'LoadAnnotations', True, 255),
    'coco-stuff164k': ('COCOStuffDataset', 'LoadAnnotations', False, 255),
    'cityscapes': ('CityscapesDataset', 'LoadAnnotations', False, 255),
    'ade20k': ('ADE20KDataset', 'LoadAnnotations', True, 255),
    'ade847': ('ADE20K847Dataset', 'Load16BitAnnotations', False, 65535),
    'context459': ('PascalContext459Dataset', 'Load16BitAnnotations', False, 65535),
}

S336, S448, S560, S512 = (2048, 336), (2048, 448), (2048, 560), (2048, 512)
WHOLE = ('whole', None, None)
SLIDE_224, SLIDE_448, SLIDE_224_224 = ('slide', 224, 112), ('slide', 448, 224), ('slide', 224, 224)
# config: (Resize scale, (mode, crop, stride), logit scale, prob_thd, area_thd, background_class, class file)
EXPECTED = {
    'sclip_vit-b16_voc21': (S336, SLIDE_224, 65, 0.1, 0.1, 0, 'sclip/voc21'),
    'sclip_vit-b16_context60': (S336, SLIDE_224, 50, 0.1, None, 0, 'sclip/context60'),
    'sclip_vit-b16_coco-object': (S336, SLIDE_224, 50, 0.1, None, 0, 'sclip/coco_object'),
    'sclip_vit-b16_voc20': (S336, SLIDE_224, 40, 0, None, None, 'sclip/voc20'),
    'sclip_vit-b16_context59': (S336, SLIDE_224, 40, 0, None, None, 'sclip/context59'),
    'sclip_vit-b16_coco-stuff164k': (S448, SLIDE_224, 40, 0, None, None, 'sclip/coco_stuff'),
    'sclip_vit-b16_cityscapes': (S560, SLIDE_224, 40, 0, None, None, 'sclip/cityscapes'),
    'sclip_vit-b16_ade20k': (S336, SLIDE_224, 40, 0, None, None, 'sclip/ade20k'),
    'sclip_vit-b16_ade847': (S336, SLIDE_224, 40, 0, None, None, 'common/ade847'),
    'sclip_vit-b16_context459': (S336, SLIDE_224, 40, 0, None, None, 'common/context459'),
    'naclip_vit-b16_voc21': (S336, WHOLE, 40, 0.1, None, 0, 'naclip/voc21'),
    'naclip_vit-b16_context60': (S336, SLIDE_224, 40, 0.1, None, 0, 'naclip/context60'),
    'naclip_vit-b16_coco-object': (S336, SLIDE_224, 40, 0.1, None, 0, 'naclip/coco_object'),
    'naclip_vit-b16_voc20': (S336, WHOLE, 40, 0, None, None, 'naclip/voc20'),
    'naclip_vit-b16_context59': (S336, SLIDE_224, 40, 0, None, None, 'naclip/context59'),
    'naclip_vit-b16_coco-stuff164k': (S336, SLIDE_224, 40, 0, None, None, 'naclip/coco_stuff'),
    'naclip_vit-b16_cityscapes': (S560, SLIDE_224, 40, 0, None, None, 'naclip/cityscapes'),
    'naclip_vit-b16_ade20k': (S336, SLIDE_224, 40, 0, None, None, 'naclip/ade20k'),
    'naclip_vit-b16_ade847': (S336, SLIDE_224, 40, 0, None, None, 'common/ade847'),
    'naclip_vit-b16_context459': (S336, SLIDE_224, 40, 0, None, None, 'common/context459'),
    'clearclip_vit-b16_voc21': (S448, SLIDE_448, 50, 0.5, None, 0, 'clearclip/voc21'),
    'clearclip_vit-b16_context60': (S448, SLIDE_448, 50, 0.15, None, 0, 'clearclip/context60'),
    'clearclip_vit-b16_coco-object': (S448, SLIDE_448, 50, 0.4, None, 0, 'clearclip/coco_object'),
    'clearclip_vit-b16_voc20': (S448, SLIDE_448, 50, 0, None, None, 'clearclip/voc20'),
    'clearclip_vit-b16_context59': (S448, SLIDE_448, 50, 0, None, None, 'clearclip/context59'),
    'clearclip_vit-b16_coco-stuff164k': (S448, SLIDE_448, 50, 0, None, None, 'clearclip/coco_stuff'),
    'clearclip_vit-b16_cityscapes': (S448, SLIDE_224_224, 50, 0, None, None, 'clearclip/cityscapes'),
    'clearclip_vit-b16_ade20k': (S448, SLIDE_448, 50, 0, None, None, 'clearclip/ade20k'),
    'clearclip_vit-b16_ade847': (S448, SLIDE_448, 50, 0, None, None, 'common/ade847'),
    'clearclip_vit-b16_context459': (S448, SLIDE_448, 50, 0, None, None, 'common/context459'),
    'maskclip_vit-b16_voc20': (S512, WHOLE, 1, 0, None, None, 'maskclip/voc20'),
    'maskclip_vit-b16_context59': ((520, 520), WHOLE, 1, 0, None, None, 'maskclip/context59'),
    'maskclip_vit-b16_coco-stuff164k': (S512, WHOLE, 1, 0, None, None, 'maskclip/coco_stuff'),
    'maskclip_vit-b16_cityscapes': ((1024, 512), WHOLE, 1, 0, None, None, 'maskclip/cityscapes'),
    'maskclip_vit-b16_ade20k': (S512, WHOLE, 1, 0, None, None, 'maskclip/ade20k'),
    'maskclip_rn50_voc20': (S512, WHOLE, 1, 0, None, None, 'maskclip/voc20'),
    'maskclip_rn50_context59': ((520, 520), WHOLE, 1, 0, None, None, 'maskclip/context59'),
    'maskclip_rn50_coco-stuff164k': (S512, WHOLE, 1, 0, None, None, 'maskclip/coco_stuff'),
    'maskclip_vit-b16_tcl-protocol_voc21': (S448, SLIDE_448, 1, 0, None, None, 'clearclip/voc21'),
    'maskclip_vit-b16_tcl-protocol_context60': (S448, SLIDE_448, 1, 0, None, None, 'clearclip/context60'),
    'maskclip_vit-b16_tcl-protocol_coco-object': (S448, SLIDE_448, 1, 0, None, None, 'clearclip/coco_object'),
    'maskclip_vit-b16_tcl-protocol_voc20': (S448, SLIDE_448, 1, 0, None, None, 'maskclip/voc20'),
    'maskclip_vit-b16_tcl-protocol_context59': (S448, SLIDE_448, 1, 0, None, None, 'maskclip/context59'),
    'maskclip_vit-b16_tcl-protocol_coco-stuff164k': (S448, SLIDE_448, 1, 0, None, None, 'maskclip/coco_stuff'),
    'maskclip_vit-b16_tcl-protocol_cityscapes': (S448, SLIDE_448, 1, 0, None, None, 'maskclip/cityscapes'),
    'maskclip_vit-b16_tcl-protocol_ade20k': (S448, SLIDE_448, 1, 0, None, None, 'maskclip/ade20k'),
}

# Per method family: the model values every config of it must keep from its base.
FAMILY = {
    'sclip': dict(last_block=dict(type='SCLIPLastBlock'), templates='imagenet80', pos_interpolation='offset',
                  window_padding=None, refinement=None, mean_std=CLIP_MEAN_STD),
    'naclip': dict(last_block=dict(type='NACLIPLastBlock', gaussian_std=5.0), templates='imagenet80',
                   pos_interpolation='offset', window_padding=None, renormalize=True,
                   refinement=dict(type='PAMR', steps=10, dilations=(8, 16)), mean_std=CLIP_MEAN_STD),
    'clearclip': dict(last_block=dict(type='ClearCLIPLastBlock'), templates='imagenet80',
                      pos_interpolation='offset', window_padding='center', refinement=None,
                      mean_std=CLIP_MEAN_STD),
    'maskclip_vit': dict(last_block=dict(type='MaskCLIPLastBlock'), templates='maskclip85',
                         pos_interpolation='exact', window_padding='corner', refinement=None,
                         window_refinement=None, mean_std=IMAGENET_MEAN_STD),
    'maskclip_rn50': dict(last_block=None, templates='maskclip85', window_padding=None, refinement=None,
                          window_refinement=None, mean_std=IMAGENET_MEAN_STD),
}


def family(stem):
    if stem.startswith('maskclip_rn50'):
        return 'maskclip_rn50'
    if stem.startswith('maskclip'):
        return 'maskclip_vit'
    return stem.split('_')[0]


def benchmark(stem):
    return stem.rsplit('_', 1)[1]


@pytest.fixture(scope='module')
def registries():
    from clipdense.registry import register_all_modules
    register_all_modules()
    from clipdense.registry import DATASETS
    return DATASETS


def dataset_classes(registries, dataset_type):
    return registries.get(dataset_type).METAINFO['classes']


def test_every_config_is_in_the_table():
    assert sorted(path.stem for path in CONFIGS) == sorted(EXPECTED)
    assert FAST_RUNS <= set(EXPECTED)


@pytest.mark.parametrize('path', CONFIGS, ids=lambda path: path.stem)
def test_config_values(path, registries, tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)  # class files must be found from any working directory
    cfg = Config.fromfile(str(path))
    scale, (mode, crop, stride), logit_scale, prob_thd, area_thd, background, vocab = EXPECTED[path.stem]
    model = cfg.model
    assert model.type == 'TrainingFreeSegmentor'
    assert model.mode == mode
    if mode == 'slide':
        assert (model.crop_size, model.stride) == (crop, stride)
    assert model.logit_scale == logit_scale
    assert model.prob_thd == prob_thd
    assert model.get('area_thd') == area_thd
    assert model.background_class == background

    expected_family = FAMILY[family(path.stem)]
    for key, value in expected_family.items():
        if key == 'mean_std':
            assert (model.data_preprocessor.mean, model.data_preprocessor.std) == value
            assert model.data_preprocessor.bgr_to_rgb
        else:
            assert model.get(key) == value, key
    assert model.clip.name == ('RN50' if family(path.stem) == 'maskclip_rn50' else 'ViT-B-16')

    dataset_type, loader, reduce_zero_label, ignore_index = BENCHMARKS[benchmark(path.stem)]
    for dataloader in (cfg.val_dataloader, cfg.test_dataloader):
        assert dataloader.batch_size == 1
        assert dataloader.dataset.type == dataset_type
        pipeline = dataloader.dataset.pipeline
        assert [step.type for step in pipeline] == ['LoadImageFromFile', 'Resize', loader, 'PackSegInputs']
        assert pipeline[1].scale == scale and pipeline[1].keep_ratio
        assert bool(pipeline[2].get('reduce_zero_label')) == reduce_zero_label
    assert cfg.test_evaluator.type == 'IoUMetric'
    assert cfg.train_dataloader is None  # the Runner refuses a train loader without train_cfg/optim_wrapper
    assert cfg.test_evaluator.get('ignore_index', 255) == ignore_index

    vocab_path = Path(model.vocabulary)
    assert vocab_path.is_absolute() and vocab_path.resolve() == VOCABULARIES / f'{vocab}.txt'
    from clipdense.models.clip import Vocabulary
    classes = dataset_classes(registries, dataset_type)
    assert len(Vocabulary.from_file(str(vocab_path))) == len(classes)
    # Thresholds send pixels to class 0; that is only right where class 0 is the background.
    has_background = classes[0] == 'background'
    assert (background == 0) == (prob_thd > 0 or area_thd is not None)
    if background is not None or prob_thd:
        assert has_background


def test_common_vocabularies_are_the_dataset_names(registries):
    import open_clip
    from clipdense.models.clip import Vocabulary
    tokenizer = open_clip.get_tokenizer('ViT-B-16')
    for name, dataset_type in (('ade847', 'ADE20K847Dataset'), ('context459', 'PascalContext459Dataset')):
        vocabulary = Vocabulary.from_file(str(VOCABULARIES / 'common' / f'{name}.txt'))
        classes = dataset_classes(registries, dataset_type)
        assert all(len(names) == 1 for names in vocabulary.classes)  # one query per class, no synonyms
        written = [names[0] for names in vocabulary.classes]
        assert written == [label.replace(', ', ',') for label in classes]
        # The bare comma keeps ', ' from splitting a name into synonyms; CLIP's tokens are the same.
        changed = [index for index, label in enumerate(classes) if ', ' in label]
        if changed:
            prompts = [f'a photo of a {classes[index]}.' for index in changed]
            bare = [f'a photo of a {written[index]}.' for index in changed]
            assert (tokenizer(prompts) == tokenizer(bare)).all()


# ---- end-to-end runs on tiny synthetic benchmarks ---------------------------------------------------
HEIGHT, WIDTH = 48, 64


def random_samples(rng, names, labels, size=(HEIGHT, WIDTH), ignore=None):
    """``(name, image, labels)`` with labels drawn from ``labels`` in 8x8 blocks (plus some ``ignore``)."""
    samples = []
    height, width = size
    for name in names:
        image = rng.integers(0, 256, (height, width, 3), dtype=np.uint8)
        blocks = rng.choice(np.asarray(labels), size=(height // 8, width // 8))
        label_map = np.kron(blocks, np.ones((8, 8), dtype=blocks.dtype))
        if ignore is not None:
            label_map[:2] = ignore
        samples.append((name, image, label_map))
    return samples


def write_benchmark(key, root, rng):
    """A two-image copy of benchmark ``key`` under ``root`` in its real layout; returns its data_root."""
    from clipdense.datasets import writers
    if key in ('voc21', 'voc20'):
        data_root = root / 'VOCdevkit' / 'VOC2012'
        writers.write_voc(str(data_root), 'val',
                          random_samples(rng, ['2007_000032', '2007_000033'], range(21), ignore=255))
    elif key in ('context60', 'context59'):
        data_root = root / 'VOCdevkit' / 'VOC2010'
        writers.write_pascal_context(str(data_root), 'val',
                                     random_samples(rng, ['2008_000002', '2008_000003'], range(60)))
    elif key == 'context459':
        data_root = root / 'VOCdevkit' / 'VOC2010'
        writers.write_pascal_context_459(
            str(data_root), 'val',
            random_samples(rng, ['2008_000002', '2008_000003'], [0, 7, 255, 300, 458], ignore=65535))
    elif key == 'coco-object':
        data_root = root / 'coco_stuff164k'
        writers.write_coco_object(str(data_root), 'val2017',
                                  random_samples(rng, ['000000000139', '000000000285'], range(81)))
    elif key == 'coco-stuff164k':
        data_root = root / 'coco_stuff164k'
        writers.write_coco_stuff(str(data_root), 'val2017',
                                 random_samples(rng, ['000000000139', '000000000285'], range(171), ignore=255))
    elif key == 'cityscapes':
        data_root = root / 'cityscapes'
        writers.write_cityscapes(
            str(data_root), 'val',
            random_samples(rng, ['frankfurt_000000_000294', 'lindau_000001_000019'], range(19),
                           size=(HEIGHT, 2 * HEIGHT), ignore=255))
    elif key == 'ade20k':
        data_root = root / 'ade' / 'ADEChallengeData2016'
        writers.write_ade20k(str(data_root), 'validation',
                             random_samples(rng, ['ADE_val_00000001', 'ADE_val_00000002'], range(151)))
    elif key == 'ade847':
        data_root = root / 'ADE20K_2021_17_01'
        writers.write_ade20k_full(
            str(data_root), 'validation',
            random_samples(rng, ['ADE_val_00000001', 'ADE_val_00000002'], [0, 12, 255, 256, 846],
                           ignore=65535))
    else:
        raise KeyError(key)
    return data_root


@pytest.fixture
def quick_runner(monkeypatch):
    """A shortcut that leaves the evaluated model unchanged: the Runner formats the whole config with yapf
    four times (log, dump, visualizer; about a second each on a shared CPU); plain text serves these tests
    as well."""
    monkeypatch.setattr(Config, 'pretty_text', property(lambda cfg: repr(cfg.to_dict())))


# Runs in the default (fast) selection: every method family, every on-disk format but ADE-847's, and
# every inference path (slide/whole, centre/corner/no padding, PAMR, area threshold, RN50, 16-bit labels).
# The rest are marked slow: a run costs 3-15 s on a shared CPU, 847-class maps about 40 s.
FAST_RUNS = {
    'sclip_vit-b16_voc21', 'sclip_vit-b16_context60', 'sclip_vit-b16_context59', 'sclip_vit-b16_coco-object',
    'sclip_vit-b16_ade20k', 'sclip_vit-b16_context459', 'clearclip_vit-b16_voc21',
    'clearclip_vit-b16_cityscapes', 'naclip_vit-b16_voc21', 'naclip_vit-b16_voc20',
    'naclip_vit-b16_coco-object', 'maskclip_vit-b16_context59', 'maskclip_vit-b16_coco-stuff164k',
    'maskclip_rn50_voc20', 'maskclip_vit-b16_tcl-protocol_context60',
}


@pytest.mark.parametrize('path', [
    pytest.param(path, id=path.stem, marks=() if path.stem in FAST_RUNS else pytest.mark.slow)
    for path in CONFIGS
])
def test_config_runs(path, registries, tmp_path, quick_runner):
    from mmengine.runner import Runner
    cfg = Config.fromfile(str(path))
    data_root = write_benchmark(benchmark(path.stem), tmp_path / 'data', np.random.default_rng(0))
    tiny = 'test-tiny-rn' if cfg.model.clip.name == 'RN50' else 'test-tiny-vit'
    cfg.model.clip = dict(name=tiny, pretrained=None)
    cfg.model.text_cache_dir = None
    # One template instead of 80/85 (847 classes x 80 prompts would dominate the run); the configs'
    # templates are checked in test_config_values.
    cfg.model.templates = ['a photo of a {}.']
    for dataloader in (cfg.val_dataloader, cfg.test_dataloader):
        dataloader.num_workers = 0
        dataloader.persistent_workers = False
        dataloader.dataset.data_root = str(data_root)
    cfg.work_dir = str(tmp_path / 'work')
    cfg.experiment_name = f'{path.stem}-{uuid.uuid4().hex[:8]}'
    metrics = Runner.from_cfg(cfg).test()
    assert 'mIoU' in metrics
    assert 0 <= metrics['mIoU'] <= 100
