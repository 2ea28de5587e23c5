"""Train the embedded convolutional tiny CLIP (``clipdense-tiny-convnext``) on the synthetic world, on CPU.

The convolutional sibling of ``clipdense-tiny`` (``tools/train_tiny_clip.py``), for methods built on a ConvNeXt CLIP
(FC-CLIP): open_clip's timm ConvNeXt-atto tower with a 2-layer MLP head (as ``convnext_large_d_320``) at 128 px and
the same text tower, trained with the same captioned crops of the synthetic world's training scenes (48 seen
classes; the 16 unseen ones never occur) and the same symmetric InfoNCE.

Its dense term is the read-out FC-CLIP makes of a convolutional CLIP: the last stage's map mean-pooled inside each
region (an object, or the background at a quarter of the weight), then the trunk's head norm and CLIP's head
(``StagedConvNeXt.pooled_embedding``), classified against the 48 seen classes' prompts and "background". Regions are
pooled with their area share of each cell (a 128-px crop is a 4 x 4 grid at stride 32), regions under half a cell
skipped. A few scene windows per step at 160-256 px train the same term on larger grids, as FC-CLIP infers on
whole images.

At the end it prints zero-shot accuracy on object crops of the validation scenes (64-way, seen and unseen) and the
region accuracy of the pooled read-out with ground-truth masks on validation scenes, and writes ``state_dict()`` in
fp16, loadable with ``build_clip('clipdense-tiny-convnext', 'embedded')``.

Example::

    python tools/train_tiny_convclip.py --out clipdense/assets/embedded_clip/clipdense-tiny-convnext.pt
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
from clipdense.models.clip import IMAGENET_80, StagedConvNeXt  # noqa: E402

MODEL_NAME = 'clipdense-tiny-convnext'


def parse_args():
    parser = argparse.ArgumentParser(description=__doc__.split('\n')[0])
    parser.add_argument('--out', default=osp.join(REPO_ROOT, 'clipdense', 'assets', 'embedded_clip',
                                                  f'{MODEL_NAME}.pt'))
    parser.add_argument('--config', default=osp.join(CONFIG_DIR, f'{MODEL_NAME}.json'))
    parser.add_argument('--seed', type=int, default=0)
    parser.add_argument('--world-seed', type=int, default=0)
    parser.add_argument('--train-scenes', type=int, default=4000)
    parser.add_argument('--steps', type=int, default=700)
    parser.add_argument('--batch-size', type=int, default=64)
    parser.add_argument('--lr', type=float, default=2e-3)
    parser.add_argument('--weight-decay', type=float, default=0.05)
    parser.add_argument('--warmup-steps', type=int, default=50)
    parser.add_argument('--object-crop-prob', type=float, default=0.6)
    parser.add_argument('--partial-caption-prob', type=float, default=0.4)
    parser.add_argument('--region-weight', type=float, default=1.0, help='weight of the pooled-region term')
    parser.add_argument('--min-cells', type=float, default=0.5, help='smallest region pooled, in grid cells')
    parser.add_argument('--background-weight', type=float, default=0.25)
    parser.add_argument('--background-name', default='background')
    parser.add_argument('--large-batch-size', type=int, default=4)
    parser.add_argument('--large-sizes', type=int, nargs='+', default=[160, 192, 224, 256])
    parser.add_argument('--val-scenes', type=int, default=200)
    parser.add_argument('--threads', type=int, default=2)
    parser.add_argument('--log-every', type=int, default=50)
    return parser.parse_args()


def region_weights(labels: torch.Tensor, num_labels: int, stride: int) -> torch.Tensor:
    """(N, num_labels, g, g): the share of each grid cell (stride x stride pixels) covered by each label of the
    N x S x S label maps."""
    return cell_label_counts(labels, stride, num_labels).float() / stride ** 2


def region_loss(tower: StagedConvNeXt, last_map, labels, label_to_target, class_text, logit_scale, min_cells,
                background_weight):
    """Cross-entropy of every region's pooled read-out against the class prompts."""
    weights = region_weights(labels, len(label_to_target), tower.stride)  # (N, L, g, g)
    area = weights.sum(dim=(2, 3))
    targets = label_to_target.expand_as(area)
    keep = (area >= min_cells) & (targets >= 0)
    pooled = torch.einsum('nchw,nlhw->nlc', last_map, weights / area.clamp(min=1e-6)[..., None, None])[keep]
    embeddings = F.normalize(tower.pooled_embedding(pooled), dim=-1)
    targets = targets[keep]
    per_region = F.cross_entropy(logit_scale * embeddings @ class_text.t(), targets, reduction='none')
    region_weight = torch.where(targets == len(class_text) - 1, background_weight, 1.0)
    return (region_weight * per_region).sum() / region_weight.sum()


@torch.no_grad()
def region_accuracy(tower, text, scenes, label_to_class, min_cells=0.5):
    """64-way accuracy of the pooled read-out of each object of whole validation scenes (binarised ground-truth
    masks on the last stage's grid, as FC-CLIP pools): seen, unseen."""
    hits = {False: [], True: []}
    for scene in scenes:
        height, width = scene.labels.shape
        pad_h, pad_w = -height % tower.stride, -width % tower.stride
        image = F.pad(to_tensor(scene.image[None]), (0, pad_w, 0, pad_h))
        labels = F.pad(torch.from_numpy(scene.labels.astype(np.int64))[None], (0, pad_w, 0, pad_h))
        last, _ = tower.run_stages(tower.stem(image))
        for value in labels.unique().tolist():
            if value == 0:
                continue
            mask = (labels == value).float()[None]
            grid = F.interpolate(mask, size=last.shape[-2:], mode='bilinear', align_corners=False)[0, 0] > 0.5
            if grid.sum() < 1:
                grid = F.adaptive_max_pool2d(mask, last.shape[-2:])[0, 0] > 0
            pooled = (last[0] * grid).sum(dim=(1, 2)) / grid.sum()
            embedding = F.normalize(tower.pooled_embedding(pooled[None]), dim=-1)
            class_id = label_to_class[value]
            hits[CLASSES[class_id] in UNSEEN_CLASSES].append(int((embedding @ text.t()).argmax()) == class_id)
    return float(np.mean(hits[False])), float(np.mean(hits[True]))


def main():
    args = parse_args()
    torch.set_num_threads(args.threads)
    torch.manual_seed(args.seed)
    random.seed(args.seed)
    np.random.seed(args.seed)
    start = time.time()

    open_clip.add_model_config(args.config)
    model = open_clip.create_model(MODEL_NAME)
    tokenizer = open_clip.get_tokenizer(MODEL_NAME)
    tower = StagedConvNeXt(model.visual)
    size = model.visual.image_size[0]

    world = SyntheticWorld(args.world_seed)
    train_scenes = list(world.scenes('train', args.train_scenes))
    val_scenes = list(world.scenes('val', args.val_scenes))
    sampler = CropSampler(train_scenes, args.object_crop_prob, args.partial_caption_prob, args.seed)
    print(f'generated {len(train_scenes)} train / {len(val_scenes)} val scenes in {time.time() - start:.1f}s',
          flush=True)

    region_names = list(SEEN_CLASSES) + [args.background_name]
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
        last, _ = tower.run_stages(tower.stem(to_tensor(images)))
        image_features = F.normalize(model.visual.head(tower.trunk.forward_head(last)), dim=-1)
        text_features = model.encode_text(tokenizer(captions), normalize=True)
        logit_scale = model.logit_scale.exp()
        global_loss = contrastive_loss(image_features, text_features, logit_scale, matches)
        loss = global_loss
        if args.region_weight > 0:
            template = OPENAI_IMAGENET_TEMPLATES[step % len(OPENAI_IMAGENET_TEMPLATES)]
            class_text = model.encode_text(tokenizer([template(c) for c in region_names]), normalize=True)
            region = region_loss(tower, last, labels, label_to_target, class_text, logit_scale, args.min_cells,
                                 args.background_weight)
            if args.large_batch_size > 0:
                large = args.large_sizes[step % len(args.large_sizes)]
                large_images, large_labels, _, _ = sampler.batch(args.large_batch_size, large, object_crop_prob=0.0)
                large_last, _ = tower.run_stages(tower.stem(to_tensor(large_images)))
                region = (region + region_loss(tower, large_last, large_labels, label_to_target, class_text,
                                               logit_scale, args.min_cells, args.background_weight)) / 2
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
    label_to_class = [-1] + list(range(len(CLASSES)))
    seen, unseen = region_accuracy(tower, text, val_scenes[:50], label_to_class)
    print(f'pooled-region read-out with ground-truth masks, whole val scenes (50), 64-way: seen {seen:.3f} '
          f'unseen {unseen:.3f}')
    print(f'training took {train_time / 60:.1f} min wall ({args.steps} steps of {args.batch_size}, {args.threads} '
          f'thread(s)); total {(time.time() - start) / 60:.1f} min; wrote {args.out} '
          f'({osp.getsize(args.out) / 2**20:.2f} MiB)')


if __name__ == '__main__':
    main()
