"""Name RPN proposals with concepts: the pseudo-labelling step of RegionCLIP's region–concept pretraining.

    python tools/regionclip_concept_labels.py CONFIG --images DIR --out labels.json [--concepts FILE]
                                              [--device cpu] [--cfg-options k=v ...]

For every image under ``--images`` (searched recursively; .jpg .jpeg .png .bmp .webp), as ``PretrainFastRCNN``
does in each pretraining step: the config's test pipeline resizes it (the reference's pretraining: shorter side
800, longer at most 1333), the frozen offline RPN (``model.offline_rpn``; the reference's rpn_lvis_866.pth with
NMS 0.5, 300 regions) proposes regions, and the teacher (``concept_labeler``, a ``RegionConceptLabeler``: CLIP's
res4 → RoIAlign → layer4 → attention pool) names each with the concept pool: softmax(cos / 0.01), the best concept,
kept when its probability is > 0.1. The reference then samples 100 of the 300 regions at random each training
step; that sampling belongs to the student's training and is left to it (every region is labelled here).
The config gives ``model.offline_rpn``, ``model.data_preprocessor`` (the teacher's normalisation, used unpadded),
``concept_labeler`` and ``test_pipeline``.

The output is a COCO detection json (pycocotools loads it): the concepts as categories (ids 1..C in the pool's
order), the images (ids 1..N, file names relative to ``--images``), one annotation per kept region with its box in
original-image pixels (x, y, w, h), ``score`` (the concept probability) and ``rpn_score`` (objectness). Images that
cannot be read are listed under ``info.unreadable`` and reported; they stop nothing.
"""
import argparse
import json
import os
import os.path as osp
import sys
from typing import List

import torch
from mmcv.transforms import Compose
from mmengine.config import DictAction
from mmengine.dataset import pseudo_collate
from mmengine.utils import ProgressBar

from clipdense.apis import read_image
from clipdense.apis.inference import ImageError
from clipdense.engine import check_writable_folder, load_config, merge_cfg_options
from clipdense.engine.launch import ConfigError
from clipdense.registry import MODELS, register_all_modules
from clipdense.utils import UserError, run_cli

IMAGE_EXTENSIONS = ('.jpg', '.jpeg', '.png', '.bmp', '.webp')


class NoImagesError(UserError, FileNotFoundError):
    """``--images`` is not a folder, or holds no image."""


def parse_args():
    parser = argparse.ArgumentParser(description="Label RPN proposals with concepts (RegionCLIP pretraining's "
                                     'pseudo-labelling step)')
    parser.add_argument('config', help='a concept-labels config, e.g. '
                        'configs/regionclip/regionclip_r50-c4_concept-labels_cc3m.py')
    parser.add_argument('--images', required=True, help='folder of the images to label (searched recursively)')
    parser.add_argument('--out', required=True, help='the COCO json to write')
    parser.add_argument('--concepts', help='concept file, one concept per line (sets concept_labeler.concepts)')
    parser.add_argument('--device', default='cuda' if torch.cuda.is_available() else 'cpu')
    parser.add_argument('--cfg-options', nargs='+', action=DictAction, metavar='KEY=VALUE',
                        help='override config entries, e.g. model.offline_rpn.checkpoint=rpn_lvis_866.pth')
    return parser.parse_args()


def find_images(folder: str) -> List[str]:
    """Image files under ``folder``, relative to it, sorted."""
    if not osp.isdir(folder):
        raise NoImagesError(f'--images {folder} is not a folder: give the folder of the images to label.')
    found = []
    for root, _, files in os.walk(folder):
        found += [osp.relpath(osp.join(root, name), folder) for name in files
                  if name.lower().endswith(IMAGE_EXTENSIONS)]
    if not found:
        raise NoImagesError(f'--images {folder} holds no image ({" ".join(IMAGE_EXTENSIONS)}): give a folder of '
                            'images.')
    return sorted(found)


def labelling_parts(cfg):
    """The config's test pipeline without annotation loading, and its image normalisation without padding."""
    for key in ('concept_labeler', 'test_pipeline'):
        if not cfg.get(key):
            raise ConfigError(f'the config has no {key}: use a concept-labels config such as '
                              'configs/regionclip/regionclip_r50-c4_concept-labels_cc3m.py')
    if not cfg.model.get('offline_rpn'):
        raise ConfigError('the config has no model.offline_rpn: the proposals come from the frozen offline RPN')
    pipeline = [step for step in cfg.test_pipeline if 'LoadAnnotations' not in step['type']]
    # one image at a time, unpadded: the reference pads a batch only to its largest image
    preprocessor = dict(cfg.model.data_preprocessor, pad_size_divisor=1)
    return Compose(pipeline), MODELS.build(preprocessor)


def write_json(path: str, content: dict) -> None:
    tmp = f'{path}.{os.getpid()}.tmp'
    with open(tmp, 'w', encoding='utf-8') as f:
        json.dump(content, f)
    os.replace(tmp, path)


def main():
    args = parse_args()
    register_all_modules()
    cfg = load_config(args.config)
    merge_cfg_options(cfg, args.cfg_options)
    if args.concepts is not None:
        cfg.concept_labeler.concepts = args.concepts
    images = find_images(args.images)
    check_writable_folder(osp.dirname(osp.abspath(args.out)), '--out')
    pipeline, preprocessor = labelling_parts(cfg)
    offline_rpn = MODELS.build(cfg.model.offline_rpn).to(args.device)
    labeler = MODELS.build(cfg.concept_labeler).to(args.device).eval()
    preprocessor.to(args.device)

    records, annotations, unreadable = [], [], []
    print(f'labelling the proposals of {len(images)} images in {args.images} with {len(labeler.concepts)} concepts',
          flush=True)
    progress = ProgressBar(len(images), file=sys.stdout)
    for image_id, name in enumerate(images, start=1):
        path = osp.join(args.images, name)
        try:
            read_image(path)  # the pipeline's loader would stop the run on an undecodable file
        except ImageError as error:
            unreadable.append(name)
            print(f'\ncannot read {name}: {error}', flush=True)
            progress.update()
            continue
        data = pipeline(dict(img_path=path, img_id=image_id))
        sample = data['data_samples']
        height, width = sample.ori_shape
        records.append(dict(id=image_id, file_name=name, width=width, height=height))
        batch = preprocessor(pseudo_collate([data]), False)
        proposals = offline_rpn([data['inputs'].to(args.device).float()], 'BGR')[0]  # mmdet loads BGR
        if len(proposals):
            rois = torch.cat([proposals.bboxes.new_zeros(len(proposals), 1), proposals.bboxes], dim=1)
            labels = labeler(batch['inputs'], rois)
            boxes = proposals.bboxes / proposals.bboxes.new_tensor(sample.scale_factor).repeat(2)
            kept = labels.kept.nonzero().flatten().tolist()
            for index in kept:
                x1, y1, x2, y2 = boxes[index].tolist()
                annotations.append(dict(
                    id=len(annotations) + 1, image_id=image_id, category_id=int(labels.labels[index]) + 1,
                    bbox=[x1, y1, x2 - x1, y2 - y1], area=(x2 - x1) * (y2 - y1), iscrowd=0,
                    score=float(labels.probabilities[index, labels.labels[index]]),
                    rpn_score=float(proposals.scores[index])))
        progress.update()
    sys.stdout.write('\n')
    info = dict(description="RegionCLIP region-concept pseudo labels (tools/regionclip_concept_labels.py)",
                config=args.config, temperature=labeler.temperature, threshold=labeler.threshold,
                unreadable=unreadable)
    categories = [dict(id=index + 1, name=synonyms[0]) for index, synonyms in enumerate(labeler.concepts.classes)]
    write_json(args.out, dict(info=info, images=records, annotations=annotations, categories=categories))
    print(f'{len(annotations)} labelled regions of {len(records)} images written to {args.out}')
    if unreadable:
        print(f'{len(unreadable)} images could not be read and have no labels: {", ".join(unreadable[:10])}'
              + (' ...' if len(unreadable) > 10 else ''))


if __name__ == '__main__':
    run_cli(main)
