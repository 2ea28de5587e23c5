"""Write the CLIP embeddings of proposals that ViLD-image distils (the step ViLD's release leaves out).

    python tools/vild_region_embeddings.py CONFIG CHECKPOINT --out DIR [--split train] [--max-regions 300]
                                           [--crop-scales 1.0 1.5] [--device cpu] [--cfg-options k=v ...]

CONFIG and CHECKPOINT give a detector trained on the base classes (e.g. ViLD-text): its RPN proposes regions for
every image of the split (test pipeline, boxes in original-image pixels, best first after the RPN's NMS, at most
``--max-regions``). The config's CLIP (``model.clip``, the teacher that also encodes the text) embeds each
region: the box scaled about its centre by each crop scale (ViLD: 1× and 1.5×), clipped to the image, cropped from
the original image and resized to CLIP's input size (aspect not kept), normalised with CLIP's mean/std; the
L2-normalised embeddings of the scales are averaged and normalised again. One ``{img_id}.npz`` per image
(``boxes`` float32, ``scores``, ``embeddings`` float16), written atomically: a run that stops resumes with the
images not yet written. ``LoadRegionEmbeddings(embeddings_dir=DIR)`` reads them in training.
"""
import argparse
import os
import os.path as osp
import sys
from typing import Sequence

import mmcv
import numpy as np
import open_clip
import torch
import torch.nn.functional as F
from mmengine.config import DictAction
from mmengine.dataset import pseudo_collate
from mmengine.utils import ProgressBar

from clipdense.apis import init_model
from clipdense.datasets.transforms.region_embeddings import region_embeddings_path
from clipdense.engine import check_dataset_paths, check_writable_folder, load_config, merge_cfg_options
from clipdense.engine.launch import ConfigError
from clipdense.registry import DATASETS
from clipdense.utils import UserError, run_cli


def parse_args():
    parser = argparse.ArgumentParser(description="Write CLIP embeddings of RPN proposals for ViLD's distillation")
    parser.add_argument('config', help='config of a detector trained on the base classes (its RPN and CLIP)')
    parser.add_argument('checkpoint', help='its trained weights')
    parser.add_argument('--out', required=True, help='folder of the {img_id}.npz files')
    parser.add_argument('--split', choices=['train', 'val', 'test'], default='train',
                        help="the dataloader whose images are embedded (default: train)")
    parser.add_argument('--max-regions', type=int, default=300, help='proposals kept per image (ViLD: 300)')
    parser.add_argument('--crop-scales', type=float, nargs='+', default=[1.0, 1.5],
                        help='box scales whose crop embeddings are ensembled (ViLD: 1.0 1.5)')
    parser.add_argument('--batch-size', type=int, default=64, help='crops per CLIP forward pass')
    parser.add_argument('--device', default='cuda' if torch.cuda.is_available() else 'cpu')
    parser.add_argument('--cfg-options', nargs='+', action=DictAction, metavar='KEY=VALUE',
                        help='override config entries, e.g. model.clip.pretrained=/path/ViT-B-32.pt')
    return parser.parse_args()


def scaled_boxes(boxes: torch.Tensor, scale: float, height: int, width: int) -> torch.Tensor:
    """``boxes`` (N, 4) scaled about their centres and clipped to the image, at least one pixel wide and high."""
    centre = (boxes[:, :2] + boxes[:, 2:]) / 2
    half = (boxes[:, 2:] - boxes[:, :2]) * scale / 2
    scaled = torch.cat([centre - half, centre + half], dim=1)
    scaled[:, 0::2] = scaled[:, 0::2].clamp(0, width - 1)
    scaled[:, 1::2] = scaled[:, 1::2].clamp(0, height - 1)
    scaled[:, 2:] = torch.maximum(scaled[:, 2:], scaled[:, :2] + 1)
    return scaled


class RegionEmbedder:
    """CLIP embeddings of image regions: crops at several scales resized to CLIP's input, ensembled."""

    def __init__(self, clip_model, crop_scales: Sequence[float], batch_size: int):
        config = open_clip.get_model_preprocess_cfg(clip_model)
        size = config['size']
        self.size = (size, size) if isinstance(size, int) else tuple(size)
        self.mean = torch.tensor(config['mean']).view(1, 3, 1, 1)
        self.std = torch.tensor(config['std']).view(1, 3, 1, 1)
        self.clip_model = clip_model
        self.crop_scales = list(crop_scales)
        self.batch_size = batch_size

    @torch.no_grad()
    def __call__(self, image_rgb: np.ndarray, boxes: torch.Tensor) -> torch.Tensor:
        device = next(self.clip_model.visual.parameters()).device
        image = torch.from_numpy(np.ascontiguousarray(image_rgb)).permute(2, 0, 1).float().div(255)
        height, width = image.shape[1:]
        ensemble = 0
        for scale in self.crop_scales:
            crops = []
            for x1, y1, x2, y2 in scaled_boxes(boxes, scale, height, width).round().long().tolist():
                crop = image[None, :, y1:y2, x1:x2]
                crops.append(F.interpolate(crop, size=self.size, mode='bicubic', align_corners=False))
            crops = ((torch.cat(crops).clamp(0, 1) - self.mean) / self.std)
            embeddings = torch.cat([self.clip_model.encode_image(batch.to(device)).float().cpu()
                                    for batch in crops.split(self.batch_size)])
            ensemble = ensemble + F.normalize(embeddings, dim=-1)
        return F.normalize(ensemble, dim=-1)


def test_pipeline_dataset(cfg, split: str):
    """The split's dataset with the config's test pipeline (no augmentation, no distillation loading)."""
    key = f'{split}_dataloader'
    if key not in cfg:
        raise ConfigError(f'the config has no {key}: choose --split among the dataloaders it defines.')
    dataset = cfg[key].dataset
    while 'dataset' in dataset:  # every image once: not through a wrapper that repeats or balances
        dataset = dataset.dataset
    dataset = dataset.copy()
    dataset.pipeline = [step for step in cfg.test_dataloader.dataset.pipeline
                        if step['type'] != 'LoadRegionEmbeddings']
    return DATASETS.build(dataset)


def write_regions(path: str, boxes: np.ndarray, scores: np.ndarray, embeddings: np.ndarray) -> None:
    tmp = f'{path}.{os.getpid()}.tmp.npz'
    np.savez(tmp, boxes=boxes.astype(np.float32), scores=scores.astype(np.float32),
             embeddings=embeddings.astype(np.float16))
    os.replace(tmp, path)


def main():
    args = parse_args()
    if args.max_regions < 1:
        raise UserError(f'--max-regions {args.max_regions}: keep at least one region per image.')
    if any(scale <= 0 for scale in args.crop_scales):
        raise UserError(f'--crop-scales {args.crop_scales}: scales must be positive (ViLD: 1.0 1.5).')
    cfg = load_config(args.config)
    merge_cfg_options(cfg, args.cfg_options)
    check_dataset_paths(cfg, [f'{args.split}_dataloader'])
    os.makedirs(args.out, exist_ok=True)
    check_writable_folder(args.out, '--out')
    model = init_model(cfg, args.checkpoint, device=args.device)
    clip_model = model.text_classifier.clip_model.to(args.device).eval()
    embedder = RegionEmbedder(clip_model, args.crop_scales, args.batch_size)
    dataset = test_pipeline_dataset(cfg, args.split)

    todo = [index for index in range(len(dataset))
            if not osp.isfile(region_embeddings_path(args.out, dataset.get_data_info(index)['img_id']))]
    print(f'{len(dataset) - len(todo)} of {len(dataset)} images already have regions in {args.out}; '
          f'embedding {len(todo)} ({args.max_regions} proposals, crop scales {args.crop_scales})', flush=True)
    progress = ProgressBar(len(todo), file=sys.stdout) if todo else None
    for index in todo:
        data = model.data_preprocessor(pseudo_collate([dataset[index]]), False)
        sample = data['data_samples'][0]
        with torch.no_grad():
            features = model.extract_feat(data['inputs'])
            proposals = model.rpn_head.predict(features, data['data_samples'], rescale=True)[0]
        proposals = proposals[:args.max_regions]
        boxes = proposals.bboxes.float().cpu()
        image = mmcv.imread(sample.img_path, channel_order='rgb')
        embeddings = embedder(image, boxes) if len(boxes) else torch.zeros(0, clip_model.visual.output_dim)
        write_regions(region_embeddings_path(args.out, sample.img_id), boxes.numpy(),
                      proposals.scores.float().cpu().numpy(), embeddings.numpy())
        progress.update()
    if progress is not None:
        sys.stdout.write('\n')
    print(f'region embeddings of {len(dataset)} images in {args.out}')


if __name__ == '__main__':
    run_cli(main)
