"""RegionCLIP end to end through the tools on a small synthetic world: the offline RPN trained on the base classes
(tools/train.py), zero-shot inference on ground-truth boxes and on the RPN's proposals (tools/test.py, no
checkpoint), fine-tuning with --resume and its evaluation, each printing the novel/base/all table, and the detection
demo, on the configs' embedded clipdense-tiny-resnet. The zero-shot run on ground-truth boxes swaps in a tiny random
ModifiedResNet CLIP written in OpenAI's format instead (its architecture read from the tensors), as a user's RN50
file would be."""
import glob
import os
import pickle
import re

import cv2
import open_clip
import pytest
import torch
from mmengine.config import Config

from tool_runs import ROOT, run_tool, short_run

CONFIGS = f'{ROOT}/configs/regionclip'
RPN_CONFIG = f'{CONFIGS}/rpn_r18-tiny-c4_synthetic-world.py'
FINE_TUNING = f'{CONFIGS}/regionclip_clipdense-tiny-resnet-c4_synthetic-world.py'
ZERO_SHOT_GT = f'{CONFIGS}/regionclip_clipdense-tiny-resnet-c4_zero-shot-gt-boxes_synthetic-world.py'
ZERO_SHOT_RPN = f'{CONFIGS}/regionclip_clipdense-tiny-resnet-c4_zero-shot-rpn_synthetic-world.py'
CONCEPT_LABELS = f'{CONFIGS}/regionclip_clipdense-tiny-resnet-c4_concept-labels_synthetic-world.py'
# The tiny CLIP's widths: res4 (layer3) 16 x 4 x 4 channels, a 32-d joint space.
RES4_CHANNELS, EMBED_DIM = 256, 32


@pytest.fixture(scope='module')
def tiny_resnet_clip(tmp_path_factory):
    """An OpenAI-format ModifiedResNet CLIP file, random weights: one block per stage of width 16 (8 pool heads of
    64, as OpenAI's layout implies), trained at 224 px (a 7x7 pool grid, as RN50's), a 1-layer 64-wide text tower."""
    torch.manual_seed(0)
    model = open_clip.model.CLIP(
        EMBED_DIM, vision_cfg=open_clip.model.CLIPVisionCfg(layers=(1, 1, 1, 1), width=16, image_size=224),
        text_cfg=open_clip.model.CLIPTextCfg(context_length=77, vocab_size=49408, width=64, heads=1, layers=1),
        quick_gelu=True)
    path = tmp_path_factory.mktemp('clip') / 'tiny-rn-openai.pt'
    torch.save(model.state_dict(), path)
    return path


def with_tiny_clip(clip_file):
    """--cfg-options that swap the configs' CLIP for the OpenAI-format file."""
    return ['model.clip.name=None', f'model.clip.pretrained={clip_file}', 'model.text_cache_dir=None',
            f'model.roi_head.bbox_roi_extractor.out_channels={RES4_CHANNELS}',
            f'model.roi_head.bbox_head.in_channels={EMBED_DIM}']


def evaluated_on(world):
    return [f'val_evaluator.ann_file={world}/annotations/instances_val.json',
            f'test_evaluator.ann_file={world}/annotations/instances_val.json']


def training_run(world, *extra):
    return short_run(world, *evaluated_on(world), *extra)


def evaluation_run(world, *extra):
    """--cfg-options of an evaluation (the zero-shot configs have no training loader)."""
    return ['--cfg-options', f'val_dataloader.dataset.data_root={world}', f'test_dataloader.dataset.data_root={world}',
            'val_dataloader.num_workers=0', 'val_dataloader.persistent_workers=False', 'randomness.seed=0',
            *evaluated_on(world), *extra]


def assert_ov_table(output):
    for split, classes in (('novel', 16), ('base', 48), ('all', 64)):
        assert re.search(rf'\| +{split} +\|\s+{classes}\s+\|.*\|\s+[\d.]+\s+\|', output), output[-3000:]
    assert re.search(r'Iter\(test\).*bbox_AP50_novel: [\d.]+\s+coco/bbox_AP50_base: [\d.]+', output)


@pytest.mark.parametrize('path', sorted(glob.glob(f'{CONFIGS}/*synthetic-world.py')), ids=os.path.basename)
def test_synthetic_configs_build(path):
    """Every synthetic-world config of configs/regionclip builds its model (the RegionCLIP ones with an untrained
    offline RPN)."""
    from clipdense.registry import MODELS, register_all_modules
    register_all_modules()
    cfg = Config.fromfile(path)
    if cfg.model.type == 'RPN':
        assert MODELS.build(cfg.model).bbox_head.prior_generator.num_base_priors == [15]
        return
    cfg.model.text_cache_dir = None
    if cfg.model.offline_rpn is not None:
        cfg.model.offline_rpn.checkpoint = None
    model = MODELS.build(cfg.model)
    assert model.roi_head.bbox_head.num_classes == 64 and model.roi_head.bbox_head.fc_cls.num_train_classes == 48
    assert (model.offline_rpn is None) == (path == ZERO_SHOT_GT)
    # zero-shot on proposals: their boxes as they are (NO_BOX_DELTA); ground-truth boxes are never regressed
    assert model.roi_head.bbox_head.with_reg == (path != ZERO_SHOT_RPN)


def test_synthetic_temperature_is_the_embedded_clips_logit_scale():
    """The synthetic configs scale cosines by the embedded CLIP's own logit scale, as the reference's x100 is OpenAI
    CLIP's: a retrained clipdense-tiny-resnet must carry its new scale into the configs."""
    from clipdense.models.clip import build_clip
    scale = build_clip('clipdense-tiny-resnet', 'embedded').logit_scale.exp().item()
    assert Config.fromfile(FINE_TUNING).model.roi_head.bbox_head.temperature == pytest.approx(scale, abs=0.005)
    assert 1 / Config.fromfile(CONCEPT_LABELS).concept_labeler.temperature == pytest.approx(scale, abs=0.005)


@pytest.fixture(scope='module')
def offline_rpn_checkpoint(small_synthetic_world, tmp_path_factory):
    """The synthetic RPN config trained 2 iterations by tools/train.py, validated as proposals (average recall)."""
    work_dir = tmp_path_factory.mktemp('rpn')
    output = run_tool('tools/train.py', RPN_CONFIG, '--work-dir', str(work_dir),
                      *training_run(small_synthetic_world, 'train_cfg.max_iters=2', 'train_cfg.val_interval=2'))
    assert re.search(r'Iter\(val\).*coco/AR@100: [\d.]+\s+coco/AR@300: [\d.]+\s+coco/AR@1000: [\d.]+', output), \
        output[-3000:]
    return work_dir / 'iter_2.pth'


@pytest.mark.slow
def test_zero_shot_on_ground_truth_boxes_through_the_tools(small_synthetic_world, tiny_resnet_clip, tmp_path):
    output = run_tool('tools/test.py', ZERO_SHOT_GT, '--work-dir', str(tmp_path),
                      *evaluation_run(small_synthetic_world, *with_tiny_clip(tiny_resnet_clip)))
    assert_ov_table(output)


@pytest.mark.slow
def test_zero_shot_on_offline_rpn_proposals_through_the_tools(small_synthetic_world, offline_rpn_checkpoint, tmp_path):
    """The trained RPN's proposals, scored without box deltas and fused with its raw logits: detections remain
    (rows of negative logits are dropped, as the reference's)."""
    predictions = tmp_path / 'predictions.pkl'
    output = run_tool('tools/test.py', ZERO_SHOT_RPN, '--work-dir', str(tmp_path / 'work'), '--out', str(predictions),
                      *evaluation_run(small_synthetic_world, 'model.text_cache_dir=None',
                                f'model.offline_rpn.checkpoint={offline_rpn_checkpoint}'))
    assert_ov_table(output)
    with open(predictions, 'rb') as f:
        results = pickle.load(f)
    assert len(results) == 3 and all(len(result['pred_instances']['bboxes']) > 0 for result in results)


@pytest.mark.slow
def test_fine_tune_resume_test_and_demo_through_the_tools(small_synthetic_world, offline_rpn_checkpoint, tmp_path):
    """Fine-tuning on the base classes with the frozen offline RPN (2 iterations, --resume to 3; validation left to
    tools/test.py), the novel/base/all table of the result, and the detection demo with another vocabulary."""
    world = small_synthetic_world
    model = ['model.text_cache_dir=None', f'model.offline_rpn.checkpoint={offline_rpn_checkpoint}']
    work_dir = tmp_path / 'fine-tuned'
    output = run_tool('tools/train.py', FINE_TUNING, '--work-dir', str(work_dir),
                      *training_run(world, *model, 'train_cfg.max_iters=2', 'train_cfg.val_begin=10'))
    assert re.search(r'Iter\(train\) \[2/2\].*loss_cls: [\d.]+.*loss_bbox: [\d.]+', output), output[-3000:]
    output = run_tool('tools/train.py', FINE_TUNING, '--work-dir', str(work_dir), '--resume',
                      *training_run(world, *model, 'train_cfg.max_iters=3', 'train_cfg.val_begin=10'))
    assert re.search(r'resumed epoch: \d+, iter: 2', output), output[-3000:]
    output = run_tool('tools/test.py', FINE_TUNING, str(work_dir / 'iter_3.pth'), '--work-dir', str(tmp_path / 'test'),
                      *evaluation_run(world, *model))
    assert_ov_table(output)

    scene = sorted((world / 'images' / 'validation').iterdir())[0]
    drawn = tmp_path / 'demo' / 'detections.png'
    output = run_tool('demo/detection_demo.py', str(scene), FINE_TUNING, '--checkpoint', str(work_dir / 'iter_3.pth'),
                      '--vocab', 'red circle,blue square;blue box,green triangle', '--score-thr', '0',
                      '--max-dets', '5', '--out', str(drawn), '--cfg-options', *model)
    assert '5 detections drawn' in output and f'detections written to {drawn}' in output
    assert cv2.imread(str(drawn)).shape == cv2.imread(str(scene)).shape


@pytest.mark.slow
def test_evaluation_cost_benchmark_runs():
    output = run_tool('tools/analysis_tools/benchmark_detection_eval.py', '--images', '2', '--settings', 'regionclip',
                      'vild')
    assert re.search(r'\| regionclip \| 2 \| [\d.]+ \| [\d.]+ \| [\d.]+ % \| \d+ \|', output), output[-2000:]
    assert re.search(r"regionclip: [\d.]+x ViLD's images/s", output)


# ---- pretraining's pseudo-labelling step: tools/regionclip_concept_labels.py -------------------------------------
@pytest.fixture(scope='module')
def random_offline_rpn(tmp_path_factory):
    """A checkpoint of the synthetic configs' offline RPN with random weights (noise proposals, loaded strictly)."""
    from clipdense.registry import MODELS, register_all_modules
    register_all_modules()
    cfg = Config.fromfile(CONCEPT_LABELS).model.offline_rpn
    cfg.checkpoint = None
    torch.manual_seed(0)
    path = tmp_path_factory.mktemp('random_rpn') / 'rpn.pth'
    with pytest.warns(UserWarning, match='random weights'):
        torch.save(MODELS.build(cfg).state_dict(), path)
    return path


def test_concept_labels_config_holds_the_pretraining_settings():
    """The reference's pretraining labelling: LVIS R50-FPN RPN at NMS 0.5 keeping 300 regions, OpenAI's RN50
    teacher pooled at 14 on res4, cos/0.01 kept above 0.1, images at 800/1333; the synthetic config the same
    settings on the embedded CLIP and RPN."""
    cfg = Config.fromfile(f'{CONFIGS}/regionclip_r50-c4_concept-labels_cc3m.py')
    rpn = cfg.model.offline_rpn
    assert rpn.neck.type == 'mmdet.FPN' and rpn.test_cfg.nms.iou_threshold == 0.5 and rpn.test_cfg.max_per_img == 300
    assert rpn.test_cfg.nms_pre == 1000 and rpn.checkpoint.endswith('rpn_lvis_866.pth')
    labeler = cfg.concept_labeler
    assert labeler.clip == dict(name='RN50', pretrained='openai') and labeler.concepts.endswith('coco_nouns_4764.txt')
    assert labeler.roi_extractor.roi_layer.output_size == 14 and labeler.roi_extractor.featmap_strides == [16]
    assert (labeler.temperature, labeler.threshold, labeler.templates) == (0.01, 0.1, 'regionclip81')
    assert dict(type='mmdet.Resize', scale=(1333, 800), keep_ratio=True) in cfg.test_pipeline
    synthetic = Config.fromfile(CONCEPT_LABELS)
    assert synthetic.model.offline_rpn.test_cfg.nms.iou_threshold == 0.5
    assert synthetic.concept_labeler.clip == dict(name='clipdense-tiny-resnet', pretrained='embedded')
    assert synthetic.concept_labeler.roi_extractor == synthetic.model.roi_head.bbox_roi_extractor


def test_concept_labels_through_the_tool(small_synthetic_world, random_offline_rpn, tmp_path):
    """The tool's COCO json holds, for each image that reads, the kept proposals with the teacher's best concept
    and its probability, boxes in original-image pixels: recomputed here from the image resized as the config's
    pipeline does and the written boxes; an unreadable image is reported and listed, the others labelled."""
    import json
    import shutil

    import mmcv
    from pycocotools.coco import COCO

    from clipdense.registry import MODELS, register_all_modules
    images = tmp_path / 'images'
    shutil.copytree(small_synthetic_world / 'images' / 'validation', images / 'scenes')
    (images / 'broken.png').write_bytes(b'not a png')
    out = tmp_path / 'labels' / 'concepts.json'
    output = run_tool('tools/regionclip_concept_labels.py', CONCEPT_LABELS, '--images', str(images), '--out', str(out),
                      '--cfg-options', f'model.offline_rpn.checkpoint={random_offline_rpn}',
                      'model.offline_rpn.test_cfg.max_per_img=20', 'concept_labeler.text_cache_dir=None')
    assert 'cannot read broken.png' in output and '1 images could not be read' in output, output[-2000:]
    with open(out) as f:
        labels = json.load(f)
    assert labels['info']['unreadable'] == ['broken.png']
    coco = COCO(str(out))
    names = [line.strip() for line in open(f'{ROOT}/clipdense/assets/vocabularies/synthetic_world.txt')]
    assert [coco.cats[index + 1]['name'] for index in range(len(names))] == names
    scenes = sorted(os.listdir(images / 'scenes'))
    assert [record['file_name'] for record in coco.imgs.values()] == [f'scenes/{name}' for name in scenes]
    assert 0 < len(coco.anns) <= 3 * 20

    register_all_modules()
    cfg = Config.fromfile(CONCEPT_LABELS)
    cfg.concept_labeler.text_cache_dir = None
    labeler = MODELS.build(cfg.concept_labeler).eval()
    mean = torch.tensor(cfg.model.data_preprocessor.mean).view(3, 1, 1)
    std = torch.tensor(cfg.model.data_preprocessor.std).view(3, 1, 1)
    for image_id, record in coco.imgs.items():
        image = mmcv.imread(str(images / record['file_name']), channel_order='rgb')
        assert (record['height'], record['width']) == image.shape[:2]
        resized = mmcv.imrescale(image, (224, 224))
        # mmdet's scale factor per axis, from the rounded size
        scale = torch.tensor([resized.shape[1] / image.shape[1], resized.shape[0] / image.shape[0]]).repeat(2)
        pixels = ((torch.from_numpy(resized).permute(2, 0, 1).float() - mean) / std)[None]
        annotations = coco.imgToAnns[image_id]
        boxes = torch.tensor([[x, y, x + w, y + h] for x, y, w, h in (a['bbox'] for a in annotations)])
        assert (boxes >= 0).all() and (boxes[:, 2] <= record['width'] + 1e-3).all()
        assert (boxes[:, 3] <= record['height'] + 1e-3).all()
        recomputed = labeler(pixels, torch.cat([torch.zeros(len(boxes), 1), boxes * scale], dim=1))
        assert [a['category_id'] - 1 for a in annotations] == recomputed.labels.tolist()
        torch.testing.assert_close(torch.tensor([a['score'] for a in annotations]),
                                   recomputed.probabilities.max(dim=1).values, atol=1e-4, rtol=0)
        assert all(a['score'] > 0.1 for a in annotations)


def test_concept_labels_tool_errors(tmp_path):
    import subprocess
    import sys
    empty = tmp_path / 'empty'
    empty.mkdir()
    for images, message in ((tmp_path / 'missing', 'is not a folder'), (empty, 'holds no image')):
        result = subprocess.run([sys.executable, 'tools/regionclip_concept_labels.py', CONCEPT_LABELS, '--images',
                                 str(images), '--out', str(tmp_path / 'labels.json')], cwd=ROOT, capture_output=True,
                                text=True)
        assert result.returncode == 2 and 'Traceback' not in result.stderr, result.stderr[-2000:]
        assert len(result.stderr.strip().splitlines()) == 1 and message in result.stderr
