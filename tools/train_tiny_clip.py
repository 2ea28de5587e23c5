"""Train the embedded tiny CLIP (``clipdense-tiny``) on the synthetic world, on CPU.

Contrastive image-caption training (symmetric InfoNCE with a learnable logit scale) of
open_clip's ``clipdense-tiny`` architecture (``clipdense/assets/clip_configs``) on crops of the
synthetic world's training scenes: object-centred crops captioned with one of OpenAI's 80
ImageNet templates ("a photo of the red triangle."), and windows of whole scenes captioned with
every object they contain ("a photo of a red triangle and a blue circle."). Crop sizes vary from
a tight box around one object to the whole scene, so the ViT sees objects at many scales and with
neighbours, which its patch tokens need for dense prediction. Only the 48 seen classes occur in
training; the 16 unseen ones are kept for zero-shot evaluation.

Some object crops are captioned with their shape only ("a photo of a triangle.") or their colour
only ("a photo of a red shape."): colour separates most of a batch by itself, and those captions
make shape a training signal of its own. A caption counts as a positive of every image in the
batch it is true of (the InfoNCE targets spread evenly over them), since with 48 classes a batch
holds many duplicates. The patch embedding starts from whitened PCA filters of training patches.

A patch-level term makes the patch tokens speak the text space, which a large CLIP learns from
its data but a model this small does not in minutes: every patch mostly covered by one object is
classified (cross-entropy over the 48 seen classes' prompts, one ImageNet template per step), and
background patches, at a quarter of the weight, as "background". The patch features are read
through the package's own last blocks of MaskCLIP (value path, residual, FFN), ClearCLIP (q-q
attention) and NACLIP (k-k attention with a neighbourhood bias), i.e. the value path and the
self-similarity attentions that the training-free methods rely on in a real CLIP. CLIP's own q-k
attention is left to the image-level loss, as in CLIP. This is what makes the benchmark on this
model measure an implementation, not the methods' relative merit: a method that computes its
block wrongly loses what the model was taught. Each step also runs a few scene windows above the
training size (positional embedding resized bicubically, as dense inference does), since the
methods' protocols use windows of 1-3x the training size.

At the end the script prints zero-shot accuracy on object crops of the validation scenes (seen and
unseen classes, 64-way), a dense check (mIoU of the patch tokens read out by each of the package's
last blocks, vanilla included, on validation scenes), and writes ``model.state_dict()`` in fp16,
loadable with ``open_clip.create_model('clipdense-tiny', pretrained=<file>)``.

Example::

    python tools/train_tiny_clip.py --out clipdense/assets/embedded_clip/clipdense-tiny.pt
"""
import argparse
import math
import os
import os.path as osp
import random
import time
from typing import List, Optional, Sequence

import cv2
import numpy as np
import open_clip
import torch
import torch.nn.functional as F
from mmseg.models.data_preprocessor import SegDataPreProcessor
from open_clip.constants import OPENAI_DATASET_MEAN, OPENAI_DATASET_STD
from open_clip.zero_shot_metadata import OPENAI_IMAGENET_TEMPLATES
from torch import nn

from clipdense.datasets.synthetic import CLASSES, SEEN_CLASSES, UNSEEN_CLASSES, SyntheticWorld
from clipdense.datasets.synthetic.crops import (crop_resized, object_crops, object_window,
                                                objects_inside)
from clipdense.datasets.synthetic.generator import Scene
from clipdense.models.clip import (IMAGENET_80, ClearCLIPLastBlock, DenseCLIPVision,
                                   MaskCLIPLastBlock, NACLIPLastBlock, SCLIPLastBlock, StagedViT,
                                   TextClassifier, VanillaLastBlock)
from clipdense.models.utils import SlidingWindow
from clipdense.ops import resize_bilinear

REPO_ROOT = osp.dirname(osp.dirname(osp.abspath(__file__)))
CONFIG_DIR = osp.join(REPO_ROOT, 'clipdense', 'assets', 'clip_configs')
MODEL_NAME = 'clipdense-tiny'

# Captions of windows holding several objects; {} is the list "a red triangle and a blue circle".
SCENE_TEMPLATES = ('a photo of {}.', 'a picture of {}.', '{}.', 'there is {} in the scene.',
                   'an image with {}.', 'a rendering of {}.')


def parse_args():
    parser = argparse.ArgumentParser(description=__doc__.split('\n')[0])
    parser.add_argument('--out', default=osp.join(REPO_ROOT, 'clipdense', 'assets', 'embedded_clip',
                                                  f'{MODEL_NAME}.pt'))
    parser.add_argument('--config', default=osp.join(CONFIG_DIR, f'{MODEL_NAME}.json'),
                        help='open_clip model config (JSON) to train; the model is named after '
                        'the file')
    parser.add_argument('--seed', type=int, default=0)
    parser.add_argument('--world-seed', type=int, default=0,
                        help='seed of the synthetic world (the scenes); keep 0, the world the '
                        'tests and configs use')
    parser.add_argument('--train-scenes', type=int, default=4000,
                        help='training scenes generated up front; crops are drawn from them')
    parser.add_argument('--steps', type=int, default=560)
    parser.add_argument('--batch-size', type=int, default=128)
    parser.add_argument('--lr', type=float, default=2e-3)
    parser.add_argument('--weight-decay', type=float, default=0.05)
    parser.add_argument('--warmup-steps', type=int, default=50)
    parser.add_argument('--object-crop-prob', type=float, default=0.6,
                        help='probability that an item is an object-centred crop rather than a '
                        'scene window')
    parser.add_argument('--partial-caption-prob', type=float, default=0.4,
                        help='probability that an object crop\'s caption names only its shape '
                        'or only its colour')
    parser.add_argument('--dense-weight', type=float, default=1.0,
                        help='weight of the patch-level term: each patch covered by one object '
                        'is classified against the seen classes\' prompts (0 turns it off)')
    parser.add_argument('--dense-readouts', nargs='+', default=['maskclip', 'clearclip', 'naclip'],
                        choices=sorted(READOUTS),
                        help='read-outs of the last block the patch-level term trains')
    parser.add_argument('--dense-min-fraction', type=float, default=0.5,
                        help='smallest fraction of a patch one object must cover for the patch '
                        'to get its label')
    parser.add_argument('--background-weight', type=float, default=0.25,
                        help='weight of background patches in the patch-level term, whose target '
                        'is then the prompt of --background-name (0: background patches are '
                        'not trained)')
    parser.add_argument('--background-name', default='background')
    parser.add_argument('--large-batch-size', type=int, default=4,
                        help='scene windows per step at a size above the training size, for the '
                        'patch-level term only: dense protocols run the CLIP on larger windows '
                        'with its positional embedding resized (0 turns it off)')
    parser.add_argument('--large-sizes', type=int, nargs='+', default=[96, 128, 160, 192],
                        help='sizes of the large windows, taken in turn')
    parser.add_argument('--val-scenes', type=int, default=200)
    parser.add_argument('--dense-val-scenes', type=int, default=50)
    parser.add_argument('--threads', type=int, default=2,
                        help='torch threads (the committed checkpoint: 2 on an otherwise idle 2-core '
                        'machine; on cores shared with other jobs use 1, busy-waiting threads are '
                        'several times slower there)')
    parser.add_argument('--log-every', type=int, default=50)
    return parser.parse_args()


# ----------------------------------------------------------------------------------------------
# data


def list_objects(names: Sequence[str]) -> str:
    phrases = [f'a {name}' for name in names]
    if len(phrases) == 1:
        return phrases[0]
    return ', '.join(phrases[:-1]) + ' and ' + phrases[-1]


class CropSampler:
    """Draws captioned training crops from a pool of scenes.

    Each item is (image S x S x 3 uint8, caption, objects, described): ``objects`` is the sorted
    tuple of class names the caption is about, ``described`` the same objects as the caption
    words them, each a (colour or None, shape or None) pair. An object crop's caption names only
    its shape ("a photo of a triangle.") or only its colour ("a photo of a red shape.") with
    probability ``partial_caption_prob``: colour alone separates most of a batch, and those
    captions make shape a signal of its own.
    """

    def __init__(self, scenes: List[Scene], object_crop_prob: float, partial_caption_prob: float,
                 seed: int):
        self.scenes = [s for s in scenes if s.objects]
        self.object_crop_prob = object_crop_prob
        self.partial_caption_prob = partial_caption_prob
        self.rng = np.random.default_rng(seed)

    def _choice(self, options):
        return options[int(self.rng.integers(len(options)))]

    def sample(self, size: int, object_crop_prob: float):
        rng = self.rng
        while True:
            scene = self._choice(self.scenes)
            height, width = scene.labels.shape
            if rng.random() < object_crop_prob:
                main = int(rng.integers(len(scene.objects)))
                x0, y0, side = object_window(scene, main, rng.uniform(1.1, 2.2),
                                             tuple(rng.uniform(-0.12, 0.12, 2)))
                if main not in objects_inside(scene, x0, y0, side):
                    continue
                obj = scene.objects[main]
                objects = (obj.name,)
                described = ((obj.colour, obj.shape),)
                phrase = obj.name
                if rng.random() < self.partial_caption_prob:
                    if rng.random() < 0.75:  # shape is the hard part; colour is learnt fast
                        described, phrase = ((None, obj.shape),), obj.shape
                    else:
                        described, phrase = ((obj.colour, None),), f'{obj.colour} shape'
                caption = self._choice(OPENAI_IMAGENET_TEMPLATES)(phrase)
            else:
                # Log-uniform from a little below native scale (the dense protocols' windows)
                # up to the whole scene shrunk to the crop size.
                low = min(0.75 * size, min(height, width))
                side = int(math.exp(rng.uniform(math.log(low), math.log(min(height, width)))))
                x0 = int(rng.integers(0, width - side + 1))
                y0 = int(rng.integers(0, height - side + 1))
                inside = objects_inside(scene, x0, y0, side)
                if not inside:
                    continue
                names = [scene.objects[i].name for i in rng.permutation(inside)]
                caption = self._choice(SCENE_TEMPLATES).format(list_objects(names))
                objects = tuple(sorted(names))
                described = tuple((scene.objects[i].colour, scene.objects[i].shape)
                                  for i in sorted(inside, key=lambda i: scene.objects[i].name))
            crop = crop_resized(scene.image, x0, y0, side, size)
            labels = cv2.resize(scene.labels[y0:y0 + side, x0:x0 + side], (size, size),
                                interpolation=cv2.INTER_NEAREST)
            if rng.random() < 0.5:
                crop, labels = crop[:, ::-1], labels[:, ::-1]
            return (np.ascontiguousarray(crop), np.ascontiguousarray(labels), caption, objects,
                    described)

    def batch(self, batch_size: int, size: int, object_crop_prob: Optional[float] = None):
        """``batch_size`` items of ``size`` px: uint8 images, label maps, captions and the
        caption-image match matrix."""
        if object_crop_prob is None:
            object_crop_prob = self.object_crop_prob
        images, labels, captions, objects, described = zip(
            *(self.sample(size, object_crop_prob) for _ in range(batch_size)))
        return (np.stack(images), torch.from_numpy(np.stack(labels)).long(), list(captions),
                caption_matches(objects, described))


def caption_matches(objects: Sequence[tuple], described: Sequence[tuple]) -> torch.Tensor:
    """B x B bool: caption j is true of image i (same number of objects, each described
    object fits the image's object in colour and shape where the caption says them)."""
    size = len(objects)
    matches = torch.zeros(size, size, dtype=torch.bool)
    for i, names in enumerate(objects):
        parts = [tuple(name.split(' ')) for name in names]
        for j, words in enumerate(described):
            if len(words) != len(parts):
                continue
            if len(words) == 1:
                (colour, shape), (true_colour, true_shape) = words[0], parts[0]
                matches[i, j] = colour in (None, true_colour) and shape in (None, true_shape)
            else:  # several objects are always fully described, in name order
                matches[i, j] = all(w == p for w, p in zip(words, parts))
    return matches


# CLIP's normalisation, applied by the data preprocessor the configs use (RGB input on the 0-255 scale).
PREPROCESSOR = SegDataPreProcessor(mean=[255 * m for m in OPENAI_DATASET_MEAN],
                                   std=[255 * s for s in OPENAI_DATASET_STD])


def to_tensor(images: np.ndarray) -> torch.Tensor:
    """uint8 N x S x S x 3 RGB -> CLIP-normalised float N x 3 x S x S."""
    return PREPROCESSOR(dict(inputs=list(torch.from_numpy(images).permute(0, 3, 1, 2))))['inputs']


# ----------------------------------------------------------------------------------------------
# model, loss, schedule


def contrastive_loss(image_features, text_features, logit_scale, matches) -> torch.Tensor:
    """Symmetric InfoNCE whose targets spread evenly over every true image-caption pair."""
    logits = logit_scale * image_features @ text_features.t()
    matches = matches.float()
    image_to_text = matches / matches.sum(dim=1, keepdim=True)
    text_to_image = matches.t() / matches.t().sum(dim=1, keepdim=True)
    loss_i = torch.sum(-image_to_text * F.log_softmax(logits, dim=1), dim=1).mean()
    loss_t = torch.sum(-text_to_image * F.log_softmax(logits.t(), dim=1), dim=1).mean()
    return (loss_i + loss_t) / 2


@torch.no_grad()
def init_patch_embedding_pca(visual, images: torch.Tensor, eps: float = 1e-2) -> None:
    """Initialise the ViT's patch embedding with the whitened principal components of patches.

    A data-dependent initialisation (PCA of 8 x 8 patches of normalised training crops, each
    filter scaled to unit output variance, ``eps`` x the top eigenvalue added for stability):
    the tower starts from edge and colour-contrast filters instead of noise, which sped up
    learning of shapes in short trials. Only the initial values change; the architecture is
    open_clip's.
    """
    patch = visual.conv1.kernel_size[0]
    patches = F.unfold(images, patch, stride=patch).transpose(1, 2).reshape(-1, 3 * patch * patch)
    patches = patches - patches.mean(dim=0)
    eigenvalues, eigenvectors = torch.linalg.eigh(patches.t() @ patches / len(patches))
    eigenvalues, eigenvectors = eigenvalues.flip(0), eigenvectors.flip(1)
    width = visual.conv1.out_channels
    if width > eigenvectors.shape[1]:
        raise ValueError(f'PCA initialisation needs width <= {eigenvectors.shape[1]} '
                         f'(3 x patch^2), got {width}')
    scale = (eigenvalues[:width] + eps * eigenvalues[0]).rsqrt()
    filters = eigenvectors[:, :width].t() * scale[:, None]
    visual.conv1.weight.copy_(filters.reshape(width, 3, patch, patch))


def tokens_before_last_block(visual, x: torch.Tensor) -> torch.Tensor:
    """The ViT's tokens (N x (1 + hw) x C) entering its last residual block, built by the staged
    tower as dense inference builds them (inputs above the training size get the positional
    embedding resized bicubically)."""
    tower = StagedViT(visual, pos_interpolation='exact')
    tokens, _ = tower.embed(x)
    return tower.run_blocks(tokens, 0, tower.num_blocks - 1)[0]


def image_features(visual, tokens: torch.Tensor) -> torch.Tensor:
    """CLIP's image embedding from the tokens entering the last block (``encode_image``)."""
    tower = StagedViT(visual)
    x, _ = tower.run_blocks(tokens, tower.num_blocks - 1)
    return tower.project(x[:, 0])


# The last block read out as the methods read it: the package's own blocks, so the script trains
# exactly what inference computes.
READOUTS = {'vanilla': VanillaLastBlock, 'maskclip': MaskCLIPLastBlock, 'sclip': SCLIPLastBlock,
            'clearclip': ClearCLIPLastBlock, 'naclip': NACLIPLastBlock}


def readout_patches(visual, tokens: torch.Tensor, readout: nn.Module) -> torch.Tensor:
    """Patch features (N x hw x D, not normalised) of the last block computed by ``readout``
    (a :class:`~clipdense.models.clip.LastBlock`)."""
    tower = StagedViT(visual)
    side = math.isqrt(tokens.shape[1] - 1)
    return tower.project(readout(tower.blocks[-1], tokens, (side, side))[:, 1:])


def cell_label_counts(labels: torch.Tensor, cell: int, num_labels: int) -> torch.Tensor:
    """(N, num_labels, g, g): how many pixels of each cell (``cell`` x ``cell`` pixels, a g x g grid) carry each
    label of the N x S x S label maps."""
    n, size, _ = labels.shape
    grid = size // cell
    rows = torch.arange(size) // cell
    block = (rows[:, None] * grid + rows[None, :]).expand(n, size, size)
    index = (torch.arange(n).view(n, 1, 1) * num_labels + labels) * grid * grid + block
    counts = torch.bincount(index.flatten(), minlength=n * num_labels * grid * grid)
    return counts.view(n, num_labels, grid, grid)


def patch_targets(labels: torch.Tensor, patch: int, class_to_target: torch.Tensor,
                  min_fraction: float) -> torch.Tensor:
    """Per patch (N x hw): the target of the label (object or background) covering at least
    ``min_fraction`` of it, -1 where none does (a patch split between labels).

    ``labels`` are N x S x S label maps (0 background, c + 1 class c); ``class_to_target`` maps
    a label to its text target (-1 for a label not trained, e.g. the background when its prompt
    is not used).
    """
    counts, label = cell_label_counts(labels, patch, len(class_to_target)).flatten(2).max(dim=1)
    target = class_to_target[label]
    return torch.where(counts >= min_fraction * patch * patch, target, -1)


def dense_loss(visual, tokens, class_text, logit_scale, targets, readouts: Sequence[nn.Module],
               background_target: int = -1, background_weight: float = 1.0) -> torch.Tensor:
    """Cross-entropy of each labelled patch against the class prompts (``class_text``, K x D,
    normalised), averaged over the last-block ``readouts``; patches of ``background_target`` weigh
    ``background_weight``."""
    labelled = targets >= 0
    targets = targets[labelled]
    weights = torch.where(targets == background_target, background_weight, 1.0)
    losses = []
    for readout in readouts:
        patches = F.normalize(readout_patches(visual, tokens, readout)[labelled], dim=-1)
        per_patch = F.cross_entropy(logit_scale * patches @ class_text.t(), targets,
                                    reduction='none')
        losses.append((weights * per_patch).sum() / weights.sum())
    return torch.stack(losses).mean()


def build_optimizer(model, lr: float, weight_decay: float):
    """AdamW; no decay on gains, biases, embeddings and the logit scale (as CLIP)."""
    decay, no_decay = [], []
    for name, param in model.named_parameters():
        exclude = (param.ndim < 2 or 'embedding' in name or 'logit_scale' in name
                   or name.endswith('.bias'))
        (no_decay if exclude else decay).append(param)
    return torch.optim.AdamW([dict(params=decay, weight_decay=weight_decay),
                              dict(params=no_decay, weight_decay=0.0)], lr=lr, betas=(0.9, 0.98),
                             eps=1e-6)


def lr_at(step: int, total: int, warmup: int, base_lr: float) -> float:
    if step < warmup:
        return base_lr * (step + 1) / warmup
    progress = (step - warmup) / max(total - warmup, 1)
    return 0.5 * base_lr * (1 + math.cos(math.pi * progress))


# ----------------------------------------------------------------------------------------------
# evaluation


def class_text_features(model, tokenizer, names: Sequence[str], templates: Sequence[str]) -> torch.Tensor:
    """Per class: each prompt L2-normalised, averaged, renormalised (CLIP's prompt ensemble), by the
    package's text classifier."""
    return TextClassifier(model, templates, tokenizer=tokenizer, cache_dir=None).encode_names(list(names))


@torch.no_grad()
def zero_shot_accuracy(model, text: torch.Tensor, crops: np.ndarray, labels: np.ndarray):
    """64-way top-1 accuracy on crops of seen and of unseen classes, and 16-way on unseen,
    given the classes' text features (64 x D)."""
    image = torch.cat([model.encode_image(to_tensor(chunk), normalize=True)
                       for chunk in np.array_split(crops, max(len(crops) // 256, 1))])
    predictions = (image @ text.t()).argmax(dim=1).numpy()
    unseen_ids = np.array([CLASSES.index(c) for c in UNSEEN_CLASSES])
    is_unseen = np.isin(labels, unseen_ids)
    unseen_only = unseen_ids[(image[is_unseen] @ text[unseen_ids].t()).argmax(dim=1).numpy()]
    return dict(
        seen=float((predictions == labels)[~is_unseen].mean()),
        unseen=float((predictions == labels)[is_unseen].mean()),
        unseen_among_unseen=float((unseen_only == labels[is_unseen]).mean()),
        num_seen=int((~is_unseen).sum()), num_unseen=int(is_unseen.sum()))


@torch.no_grad()
def dense_miou(model, text: torch.Tensor, scenes: List[Scene], size: int, readout: nn.Module):
    """mIoU over the 64 classes (background pixels ignored) of sliding-window dense prediction:
    windows of the model's input size, stride half of it, cosine logits upsampled bilinearly and
    averaged where windows overlap (the package's dense read-out and sliding window). Returns
    (mIoU seen, mIoU unseen)."""
    num_classes = len(CLASSES)
    intersection = np.zeros(num_classes)
    union = np.zeros(num_classes)
    encoder = DenseCLIPVision(model.visual, last_block=readout, pos_interpolation='exact')
    sliding_window = SlidingWindow(size, size // 2)

    def window_logits(windows: torch.Tensor) -> torch.Tensor:
        features = F.normalize(encoder(windows).dense, dim=1)
        return resize_bilinear(torch.einsum('ndhw,cd->nchw', features, text), windows.shape[-2:])

    for scene in scenes:
        image = to_tensor(scene.image[None])
        logits = sliding_window(image, [tuple(image.shape[-2:])], window_logits)[0]
        prediction = logits.argmax(dim=0).numpy()
        labelled = scene.labels > 0
        truth = scene.labels.astype(np.int64) - 1
        for c in np.unique(np.concatenate([truth[labelled], prediction[labelled]])):
            pred_c, true_c = (prediction == c) & labelled, (truth == c) & labelled
            intersection[c] += (pred_c & true_c).sum()
            union[c] += (pred_c | true_c).sum()
    present = union > 0
    iou = np.where(present, intersection / np.maximum(union, 1), np.nan)
    unseen = np.array([c in UNSEEN_CLASSES for c in CLASSES])
    return float(np.nanmean(iou[~unseen])), float(np.nanmean(iou[unseen]))


# ----------------------------------------------------------------------------------------------


def main():
    args = parse_args()
    torch.set_num_threads(args.threads)
    torch.manual_seed(args.seed)
    random.seed(args.seed)
    np.random.seed(args.seed)
    start = time.time()

    open_clip.add_model_config(args.config)
    model_name = osp.splitext(osp.basename(args.config))[0]
    model = open_clip.create_model(model_name)
    tokenizer = open_clip.get_tokenizer(model_name)
    size = model.visual.image_size[0]

    world = SyntheticWorld(args.world_seed)
    train_scenes = list(world.scenes('train', args.train_scenes))
    val_scenes = list(world.scenes('val', args.val_scenes))
    sampler = CropSampler(train_scenes, args.object_crop_prob, args.partial_caption_prob,
                          args.seed)
    print(f'generated {len(train_scenes)} train / {len(val_scenes)} val scenes in '
          f'{time.time() - start:.1f}s', flush=True)

    init_patch_embedding_pca(model.visual, to_tensor(sampler.batch(512, size)[0]))
    patch = model.visual.patch_size[0]
    # Text targets of the patch-level term: the seen classes, then the background's prompt.
    dense_names = list(SEEN_CLASSES) + ([args.background_name] if args.background_weight else [])
    background_target = len(SEEN_CLASSES) if args.background_weight else -1
    readouts = [READOUTS[name]() for name in args.dense_readouts]
    class_to_target = torch.tensor([background_target] + [
        SEEN_CLASSES.index(c) if c in SEEN_CLASSES else -1 for c in CLASSES])
    optimizer = build_optimizer(model, args.lr, args.weight_decay)
    model.train()
    train_start, train_cpu_start = time.time(), time.process_time()
    for step in range(args.steps):
        lr = lr_at(step, args.steps, args.warmup_steps, args.lr)
        for group in optimizer.param_groups:
            group['lr'] = lr
        images, labels, captions, matches = sampler.batch(args.batch_size, size)
        tokens = tokens_before_last_block(model.visual, to_tensor(images))
        text_features = model.encode_text(tokenizer(captions), normalize=True)
        logit_scale = model.logit_scale.exp()
        global_loss = contrastive_loss(F.normalize(image_features(model.visual, tokens), dim=-1),
                                       text_features, logit_scale, matches)
        loss = global_loss
        if args.dense_weight > 0:
            template = OPENAI_IMAGENET_TEMPLATES[step % len(OPENAI_IMAGENET_TEMPLATES)]
            class_text = model.encode_text(tokenizer([template(c) for c in dense_names]),
                                           normalize=True)
            targets = patch_targets(labels, patch, class_to_target, args.dense_min_fraction)
            dense = dense_loss(model.visual, tokens, class_text, logit_scale, targets,
                               readouts, background_target, args.background_weight)
            if args.large_batch_size > 0:
                large = args.large_sizes[step % len(args.large_sizes)]
                large_images, large_labels, _, _ = sampler.batch(args.large_batch_size, large,
                                                                 object_crop_prob=0.0)
                large_tokens = tokens_before_last_block(model.visual, to_tensor(large_images))
                large_targets = patch_targets(large_labels, patch, class_to_target,
                                              args.dense_min_fraction)
                dense = (dense + dense_loss(model.visual, large_tokens, class_text, logit_scale,
                                            large_targets, readouts, background_target,
                                            args.background_weight)) / 2
            loss = global_loss + args.dense_weight * dense
        optimizer.zero_grad(set_to_none=True)
        loss.backward()
        optimizer.step()
        with torch.no_grad():  # CLIP clamps the logit scale at 100
            model.logit_scale.clamp_(0, math.log(100))
        if step % args.log_every == 0 or step == args.steps - 1:
            dense_msg = f'  dense {dense.item():.3f}' if args.dense_weight > 0 else ''
            print(f'step {step:5d}/{args.steps}  loss {global_loss.item():.3f}{dense_msg}  '
                  f'scale {model.logit_scale.exp().item():.1f}  lr {lr:.2e}  '
                  f'{time.time() - train_start:.0f}s', flush=True)
    train_time, train_cpu = time.time() - train_start, time.process_time() - train_cpu_start

    # Evaluate what is shipped: the fp16 weights, loaded back into the fp32 model.
    os.makedirs(osp.dirname(osp.abspath(args.out)), exist_ok=True)
    state = {k: v.half() if v.is_floating_point() else v for k, v in model.state_dict().items()}
    torch.save(state, args.out)
    model.load_state_dict(state)
    model.eval()

    crops, labels = object_crops(val_scenes, size)
    chance = 1.0 / len(CLASSES)
    texts = {'"a photo of a {}."': class_text_features(model, tokenizer, CLASSES, ['a photo of a {}.']),
             'OpenAI ImageNet-80 templates': class_text_features(model, tokenizer, CLASSES, IMAGENET_80)}
    for name, text in texts.items():
        acc = zero_shot_accuracy(model, text, crops, labels)
        print(f'zero-shot top-1 on val object crops, {name}: seen {acc["seen"]:.3f} '
              f'({acc["num_seen"]} crops), unseen {acc["unseen"]:.3f} ({acc["num_unseen"]} crops), '
              f'64-way (chance {chance:.3f}); unseen among the 16 unseen classes '
              f'{acc["unseen_among_unseen"]:.3f} (chance {1 / len(UNSEEN_CLASSES):.3f})')
    for readout in READOUTS:
        seen, unseen = dense_miou(model, texts['OpenAI ImageNet-80 templates'],
                                  val_scenes[:args.dense_val_scenes], size, READOUTS[readout]())
        print(f'dense {readout} read-out, sliding {size}px windows, '
              f'{args.dense_val_scenes} val scenes: mIoU seen {seen:.3f} unseen {unseen:.3f}')
    print(f'training took {train_time / 60:.1f} min wall, {train_cpu / 60:.1f} min CPU '
          f'({args.steps} steps of {args.batch_size}, {args.threads} thread(s)); total '
          f'{(time.time() - start) / 60:.1f} min; wrote {args.out} '
          f'({osp.getsize(args.out) / 2**20:.2f} MiB)')


if __name__ == '__main__':
    main()
