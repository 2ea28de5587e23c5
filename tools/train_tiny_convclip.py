"""Train an embedded convolutional tiny CLIP on the synthetic world, on CPU: ``clipdense-tiny-convnext`` (FC-CLIP's
learning proof) or ``clipdense-tiny-resnet`` (RegionCLIP's).

The convolutional siblings of ``clipdense-tiny`` (``tools/train_tiny_clip.py``): the same text tower, the same
captioned crops of the synthetic world's training scenes (48 seen classes; the 16 unseen ones never occur) and the
same symmetric InfoNCE, at 128 px. Each adds a dense term that trains the read-out its method makes of CLIP,
classified against the 48 seen classes' prompts (one of CLIP's 80 ImageNet templates per step); a few scene windows
per step at 160-256 px train the same term on larger maps, as the methods infer on whole scenes:

* ``clipdense-tiny-convnext`` (open_clip's timm ConvNeXt-atto with a 2-layer MLP head, as ``convnext_large_d_320``):
  FC-CLIP's read-out, the last stage's map mean-pooled inside each region (an object, or the background at a
  quarter of the weight, classified as "background"), then the trunk's head norm and CLIP's head
  (``StagedConvNeXt.pooled_embedding``). Regions are pooled with their area share of each cell (a 128-px crop is a
  4 x 4 grid at stride 32), regions under half a cell skipped.
* ``clipdense-tiny-resnet`` (open_clip's ``ModifiedResNet``, layers 1-2-2-1, width 16): RegionCLIP's read-out, each
  object's box RoI-aligned on ``layer3`` (res4, stride 16) at 14 x 14 (aligned, adaptive sampling), then ``layer4``
  (7 x 7) and the attention pool (its positional embedding resized to 7 x 7), as ``RegionCLIPRoIHead`` reads a
  region. Boxes are the tight boxes of each class's pixels in a crop, each also drawn once jittered as proposals
  are (shift up to 15 % of its side, scale 0.85-1.2); at most 96 boxes a batch are read out.

At the end it prints zero-shot accuracy on object crops of the validation scenes (64-way, seen and unseen) and the
accuracy of the method's read-out on the objects of whole validation scenes (ground-truth masks or boxes), and writes
``state_dict()`` in fp16, loadable with ``build_clip(<model>, 'embedded')``.

Example (the defaults of each model are its committed run)::

    python tools/train_tiny_convclip.py --model clipdense-tiny-convnext
    python tools/train_tiny_convclip.py --model clipdense-tiny-resnet
"""
import argparse
import math
import os
import os.path as osp
import random
import sys
import time

import numpy as np
import open_clip
import torch
import torch.nn.functional as F
from open_clip.zero_shot_metadata import OPENAI_IMAGENET_TEMPLATES

sys.path.insert(0, osp.dirname(osp.abspath(__file__)))
from train_tiny_clip import (CONFIG_DIR, REPO_ROOT, CropSampler, build_optimizer, cell_label_counts,  # noqa: E402
                             class_text_features, contrastive_loss, lr_at, to_tensor, zero_shot_accuracy)

from clipdense.datasets.synthetic import CLASSES, SEEN_CLASSES, UNSEEN_CLASSES, SyntheticWorld  # noqa: E402
from clipdense.datasets.synthetic.crops import object_crops  # noqa: E402
from clipdense.models.clip import IMAGENET_80, StagedConvNeXt, StagedModifiedResNet  # noqa: E402
from clipdense.ops import roi_align  # noqa: E402


def region_weights(labels: torch.Tensor, num_labels: int, stride: int) -> torch.Tensor:
    """(N, num_labels, g, g): the share of each grid cell (stride x stride pixels) covered by each label of the
    N x S x S label maps."""
    return cell_label_counts(labels, stride, num_labels).float() / stride ** 2


def weighted_cross_entropy(embeddings, targets, class_text, logit_scale, background_weight):
    """Cross-entropy of normalised embeddings against the class prompts; the last prompt (background) weighs
    ``background_weight``."""
    per_region = F.cross_entropy(logit_scale * embeddings @ class_text.t(), targets, reduction='none')
    region_weight = torch.where(targets == len(class_text) - 1, background_weight, 1.0)
    return (region_weight * per_region).sum() / region_weight.sum()


class ConvNeXtRegions:
    """FC-CLIP's read-out of a ConvNeXt CLIP: regions mean-pooled on the last stage (see the module docstring)."""

    default_steps = 700
    background_class = True  # background regions are classified as "background"

    def __init__(self, visual, args):
        self.tower = StagedConvNeXt(visual)
        self.min_cells = args.min_cells
        self.background_weight = args.background_weight

    def maps(self, images: torch.Tensor) -> torch.Tensor:
        return self.tower.run_stages(self.tower.stem(images))[0]

    def image_features(self, last_map: torch.Tensor) -> torch.Tensor:
        return F.normalize(self.tower.visual.head(self.tower.trunk.forward_head(last_map)), dim=-1)

    def region_loss(self, last_map, labels, label_to_target, class_text, logit_scale):
        weights = region_weights(labels, len(label_to_target), self.tower.stride)  # (N, L, g, g)
        area = weights.sum(dim=(2, 3))
        targets = label_to_target.expand_as(area)
        keep = (area >= self.min_cells) & (targets >= 0)
        pooled = torch.einsum('nchw,nlhw->nlc', last_map, weights / area.clamp(min=1e-6)[..., None, None])[keep]
        embeddings = F.normalize(self.tower.pooled_embedding(pooled), dim=-1)
        return weighted_cross_entropy(embeddings, targets[keep], class_text, logit_scale, self.background_weight)

    @torch.no_grad()
    def scene_embeddings(self, image: torch.Tensor, labels: torch.Tensor, values: list) -> torch.Tensor:
        """Each object's read-out with its ground-truth mask binarised on the last stage's grid, as FC-CLIP
        pools."""
        last = self.maps(image)
        pooled = []
        for value in values:
            mask = (labels == value).float()[None]
            grid = F.interpolate(mask, size=last.shape[-2:], mode='bilinear', align_corners=False)[0, 0] > 0.5
            if grid.sum() < 1:
                grid = F.adaptive_max_pool2d(mask, last.shape[-2:])[0, 0] > 0
            pooled.append((last[0] * grid).sum(dim=(1, 2)) / grid.sum())
        return F.normalize(self.tower.pooled_embedding(torch.stack(pooled)), dim=-1)


class ResNetBoxes:
    """RegionCLIP's read-out of a ResNet CLIP: boxes RoI-aligned on res4, then layer4 and the attention pool (see
    the module docstring)."""

    default_steps = 500
    background_class = False  # objects only: RegionCLIP's detector keeps its own background column
    pooler_size = 14
    res4_stride = 16

    def __init__(self, visual, args):
        self.tower = StagedModifiedResNet(visual)
        self.min_pixels = args.min_box_pixels
        self.max_boxes = args.max_boxes
        self.generator = torch.Generator().manual_seed(args.seed)

    def maps(self, images: torch.Tensor) -> torch.Tensor:
        return self.tower.run_layers(self.tower.stem(images), 1, 3)[0]

    def image_features(self, res4: torch.Tensor) -> torch.Tensor:
        return F.normalize(self.tower.attention_pool(self.tower.run_layers(res4, 4, 4)[0]), dim=-1)

    def box_embeddings(self, res4: torch.Tensor, rois: torch.Tensor) -> torch.Tensor:
        roi_maps = roi_align(res4, rois, self.pooler_size, 1 / self.res4_stride, 0, 'avg', True)
        return F.normalize(self.tower.attention_pool(self.tower.run_layers(roi_maps, 4, 4)[0]), dim=-1)

    @staticmethod
    def tight_box(mask: torch.Tensor) -> list:
        """[x1, y1, x2, y2] of the pixels of an H x W mask, in pixel edges."""
        ys, xs = torch.nonzero(mask, as_tuple=True)
        return [xs.min(), ys.min(), xs.max() + 1, ys.max() + 1]

    def jittered(self, boxes: torch.Tensor, size: int) -> torch.Tensor:
        """Boxes shifted by up to 15 % of their sides and scaled 0.85-1.2, clipped to the image."""
        sides = boxes[:, 2:] - boxes[:, :2]
        centres = (boxes[:, :2] + boxes[:, 2:]) / 2
        centres = centres + (torch.rand(boxes.shape[0], 2, generator=self.generator) - 0.5) * 0.3 * sides
        sides = sides * (0.85 + 0.35 * torch.rand(boxes.shape[0], 1, generator=self.generator))
        return torch.cat([centres - sides / 2, centres + sides / 2], dim=1).clamp(0, size)

    def region_loss(self, res4, labels, label_to_target, class_text, logit_scale):
        rois, targets = [], []
        for index, label_map in enumerate(labels):
            values, counts = label_map.unique(return_counts=True)
            for value, count in zip(values.tolist(), counts.tolist()):
                if value == 0 or count < self.min_pixels or label_to_target[value] < 0:
                    continue
                rois.append([index, *self.tight_box(label_map == value)])
                targets.append(int(label_to_target[value]))
        if not rois:
            return res4.sum() * 0.0
        rois = torch.tensor(rois, dtype=torch.float32)
        rois = torch.cat([rois, torch.cat([rois[:, :1], self.jittered(rois[:, 1:], labels.shape[-1])], dim=1)])
        targets = torch.tensor(targets * 2)
        if len(rois) > self.max_boxes:  # layer4 on every RoI map is the step's largest cost
            keep = torch.randperm(len(rois), generator=self.generator)[:self.max_boxes]
            rois, targets = rois[keep], targets[keep]
        embeddings = self.box_embeddings(res4, rois)
        return F.cross_entropy(logit_scale * embeddings @ class_text.t(), targets)

    @torch.no_grad()
    def scene_embeddings(self, image: torch.Tensor, labels: torch.Tensor, values: list) -> torch.Tensor:
        """Each object's read-out in its ground-truth box (the tight box of its label), as RegionCLIP scores
        ground-truth boxes."""
        rois = [[0, *self.tight_box(labels[0] == value)] for value in values]
        return self.box_embeddings(self.maps(image), torch.tensor(rois, dtype=torch.float32))


READOUTS = {'clipdense-tiny-convnext': ConvNeXtRegions, 'clipdense-tiny-resnet': ResNetBoxes}


def parse_args():
    parser = argparse.ArgumentParser(description=__doc__.split('\n')[0])
    parser.add_argument('--model', choices=sorted(READOUTS), default='clipdense-tiny-convnext')
    parser.add_argument('--out', help='default: clipdense/assets/embedded_clip/<model>.pt')
    parser.add_argument('--config', help='default: clipdense/assets/clip_configs/<model>.json')
    parser.add_argument('--seed', type=int, default=0)
    parser.add_argument('--world-seed', type=int, default=0)
    parser.add_argument('--train-scenes', type=int, default=4000)
    parser.add_argument('--steps', type=int, help='default: 700 (convnext), 500 (resnet)')
    parser.add_argument('--batch-size', type=int, default=64)
    parser.add_argument('--lr', type=float, default=2e-3)
    parser.add_argument('--weight-decay', type=float, default=0.05)
    parser.add_argument('--warmup-steps', type=int, default=50)
    parser.add_argument('--object-crop-prob', type=float, default=0.6)
    parser.add_argument('--partial-caption-prob', type=float, default=0.4)
    parser.add_argument('--region-weight', type=float, default=1.0, help='weight of the dense read-out term')
    parser.add_argument('--min-cells', type=float, default=0.5,
                        help='convnext: smallest region pooled, in grid cells')
    parser.add_argument('--background-weight', type=float, default=0.25,
                        help='convnext: weight of the background regions')
    parser.add_argument('--background-name', default='background', help='convnext: the background prompt')
    parser.add_argument('--min-box-pixels', type=int, default=64, help='resnet: smallest object boxed, in pixels')
    parser.add_argument('--max-boxes', type=int, default=96, help='resnet: boxes read out per batch, at most')
    parser.add_argument('--large-batch-size', type=int, default=4)
    parser.add_argument('--large-sizes', type=int, nargs='+', default=[160, 192, 224, 256])
    parser.add_argument('--val-scenes', type=int, default=200)
    parser.add_argument('--threads', type=int, default=2)
    parser.add_argument('--log-every', type=int, default=50)
    args = parser.parse_args()
    args.out = args.out or osp.join(REPO_ROOT, 'clipdense', 'assets', 'embedded_clip', f'{args.model}.pt')
    args.config = args.config or osp.join(CONFIG_DIR, f'{args.model}.json')
    if args.steps is None:
        args.steps = READOUTS[args.model].default_steps
    return args


@torch.no_grad()
def readout_accuracy(readout, text, scenes, stride=32):
    """64-way accuracy of the method's read-out of each object of whole validation scenes: seen, unseen."""
    hits = {False: [], True: []}
    for scene in scenes:
        height, width = scene.labels.shape
        pad_h, pad_w = -height % stride, -width % stride
        image = F.pad(to_tensor(scene.image[None]), (0, pad_w, 0, pad_h))
        labels = F.pad(torch.from_numpy(scene.labels.astype(np.int64))[None], (0, pad_w, 0, pad_h))
        values = [value for value in labels.unique().tolist() if value != 0]
        predictions = (readout.scene_embeddings(image, labels, values) @ text.t()).argmax(dim=1).tolist()
        for value, predicted in zip(values, predictions):
            class_id = value - 1
            hits[CLASSES[class_id] in UNSEEN_CLASSES].append(predicted == class_id)
    return float(np.mean(hits[False])), float(np.mean(hits[True]))


def main():
    args = parse_args()
    torch.set_num_threads(args.threads)
    torch.manual_seed(args.seed)
    random.seed(args.seed)
    np.random.seed(args.seed)
    start = time.time()

    open_clip.add_model_config(args.config)
    model = open_clip.create_model(args.model)
    tokenizer = open_clip.get_tokenizer(args.model)
    readout = READOUTS[args.model](model.visual, args)
    size = model.visual.image_size[0] if isinstance(model.visual.image_size, tuple) else model.visual.image_size

    world = SyntheticWorld(args.world_seed)
    train_scenes = list(world.scenes('train', args.train_scenes))
    val_scenes = list(world.scenes('val', args.val_scenes))
    sampler = CropSampler(train_scenes, args.object_crop_prob, args.partial_caption_prob, args.seed)
    print(f'generated {len(train_scenes)} train / {len(val_scenes)} val scenes in {time.time() - start:.1f}s',
          flush=True)

    region_names = list(SEEN_CLASSES) + ([args.background_name] if readout.background_class else [])
    # label map values: 0 background, c + 1 class c -> region target (-1: unseen, never in training)
    label_to_target = torch.tensor([len(SEEN_CLASSES)] + [
        SEEN_CLASSES.index(c) if c in SEEN_CLASSES else -1 for c in CLASSES])
    optimizer = build_optimizer(model, args.lr, args.weight_decay)
    model.train()
    train_start = time.time()
    for step in range(args.steps):
        lr = lr_at(step, args.steps, args.warmup_steps, args.lr)
        for group in optimizer.param_groups:
            group['lr'] = lr
        images, labels, captions, matches = sampler.batch(args.batch_size, size)
        maps = readout.maps(to_tensor(images))
        image_features = readout.image_features(maps)
        text_features = model.encode_text(tokenizer(captions), normalize=True)
        logit_scale = model.logit_scale.exp()
        global_loss = contrastive_loss(image_features, text_features, logit_scale, matches)
        loss = global_loss
        if args.region_weight > 0:
            template = OPENAI_IMAGENET_TEMPLATES[step % len(OPENAI_IMAGENET_TEMPLATES)]
            class_text = model.encode_text(tokenizer([template(c) for c in region_names]), normalize=True)
            region = readout.region_loss(maps, labels, label_to_target, class_text, logit_scale)
            if args.large_batch_size > 0:
                large = args.large_sizes[step % len(args.large_sizes)]
                large_images, large_labels, _, _ = sampler.batch(args.large_batch_size, large, object_crop_prob=0.0)
                region = (region + readout.region_loss(readout.maps(to_tensor(large_images)), large_labels,
                                                       label_to_target, class_text, logit_scale)) / 2
            loss = global_loss + args.region_weight * region
        optimizer.zero_grad(set_to_none=True)
        loss.backward()
        optimizer.step()
        with torch.no_grad():  # CLIP clamps the logit scale at 100
            model.logit_scale.clamp_(0, math.log(100))
        if step % args.log_every == 0 or step == args.steps - 1:
            region_msg = f'  region {region.item():.3f}' if args.region_weight > 0 else ''
            print(f'step {step:5d}/{args.steps}  loss {global_loss.item():.3f}{region_msg}  '
                  f'scale {model.logit_scale.exp().item():.1f}  lr {lr:.2e}  {time.time() - train_start:.0f}s',
                  flush=True)
    train_time = time.time() - train_start

    # Evaluate what is shipped: the fp16 weights, loaded back into the fp32 model.
    os.makedirs(osp.dirname(osp.abspath(args.out)), exist_ok=True)
    state = {k: v.half() if v.is_floating_point() else v for k, v in model.state_dict().items()}
    torch.save(state, args.out)
    model.load_state_dict(state)
    model.eval()

    crops, labels = object_crops(val_scenes, size)
    text = class_text_features(model, tokenizer, CLASSES, IMAGENET_80)
    acc = zero_shot_accuracy(model, text, crops, labels)
    print(f'zero-shot top-1 on val object crops (64-way, ImageNet-80 templates): seen {acc["seen"]:.3f}, unseen '
          f'{acc["unseen"]:.3f}; unseen among the 16 unseen classes {acc["unseen_among_unseen"]:.3f}')
    seen, unseen = readout_accuracy(readout, text, val_scenes[:50])
    print(f'{type(readout).__name__} read-out of the objects of whole val scenes (50), ground truth, 64-way: seen '
          f'{seen:.3f} unseen {unseen:.3f}')
    print(f'training took {train_time / 60:.1f} min wall ({args.steps} steps of {args.batch_size}, {args.threads} '
          f'thread(s)); total {(time.time() - start) / 60:.1f} min; wrote {args.out} '
          f'({osp.getsize(args.out) / 2**20:.2f} MiB)')


if __name__ == '__main__':
    main()
