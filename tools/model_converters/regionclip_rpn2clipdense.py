"""Convert a released RegionCLIP offline RPN into the ``OfflineRPN`` checkpoint that configs/regionclip/ name in
``model.offline_rpn.checkpoint``.

    python tools/model_converters/regionclip_rpn2clipdense.py SRC DST

SRC is one of (MODEL_ZOO's ``rpn/`` files, detectron2 Mask R-CNNs trained on base classes, or a RegionCLIP checkpoint):

- ``rpn_coco_48.pth``: R50-C4 (OV-COCO fine-tuning);
- ``rpn_lvis_866.pth``: R50-FPN, FrozenBN (zero-shot inference and pretraining);
- ``rpn_lvis_866_lsj.pth``: R50-FPN with SyncBN in the ResNet and the FPN, two RPN convs (OV-LVIS fine-tuning);
- a released RegionCLIP checkpoint (``regionclip_pretrained-*``, ``regionclip_finetuned-*``): the frozen RPN it
  carries as ``offline_backbone.*`` / ``offline_proposal_generator.*`` (``CLIPFastRCNN`` saves its offline branch
  with the model), whichever of the above it was trained with.

The reference loads only ``backbone.*`` and ``proposal_generator.*`` from an RPN file (``BB_RPN_WEIGHTS``,
``checkpoint/clip_model_loading.py``); so does this converter. Renamed: detectron2's ResNet (``stem.conv1``,
``res2..5.<i>.conv1..3`` and ``.shortcut``, each with a FrozenBN or SyncBN ``.norm``; under ``backbone.bottom_up.``
in an FPN) → mmdet's ResNet (``backbone.conv1``/``bn1``, ``backbone.layer1..4.<i>.conv1..3``/``bn1..3``,
``.downsample.0``/``.1``), with the ``num_batches_tracked`` counter mmdet's BatchNorm2d expects where FrozenBN has
none (unused: the batch norms stay in eval mode); the FPN's ``backbone.fpn_lateral2..5`` / ``fpn_output2..5``
(conv, or conv + ``norm`` without bias) → mmdet FPN's ``neck.lateral_convs.0..3`` / ``neck.fpn_convs.0..3``
(``.conv``, ``.bn``); ``proposal_generator.rpn_head.{conv,objectness_logits,anchor_deltas}`` →
``rpn_head.{rpn_conv,rpn_cls,rpn_reg}``, two convs (``conv.conv0``/``conv.conv1``, ``RPN.CONV_DIMS [-1, -1]``) →
mmdet's ``num_convs=2`` (``rpn_conv.0.conv``/``rpn_conv.1.conv``: 3x3 + ReLU each, no norm, as detectron2's).
The anchor channels need no reordering: the configs' anchors come in detectron2's order (``scale_major=False``).
Dropped and counted: everything else (the RoI heads; of a RegionCLIP checkpoint, all but the offline branch).
"""
import argparse
from typing import Dict

import torch

from clipdense.engine.convert import (ConversionError, add_batch_norm_counters, read_released_checkpoint, rename_keys,
                                     save_converted)
from clipdense.utils import run_cli

BATCH_NORM = r'(weight|bias|running_mean|running_var|num_batches_tracked)'
OFFLINE = ('offline_backbone.', 'offline_proposal_generator.')  # a RegionCLIP checkpoint's names for the RPN


def resnet_rules(source: str, stages: Dict[int, int]) -> list:
    """detectron2's ResNet under ``source`` (``backbone.`` in C4, ``backbone.bottom_up.`` in FPN) → mmdet's."""
    return [
        (source + r'stem\.conv1\.weight', 'backbone.conv1.weight'),
        (source + r'stem\.conv1\.norm\.' + BATCH_NORM, r'backbone.bn1.\1'),
        *[rule for res, layer in stages.items() for rule in (
            (source + rf'res{res}\.(\d+)\.conv([123])\.weight', rf'backbone.layer{layer}.\1.conv\2.weight'),
            (source + rf'res{res}\.(\d+)\.conv([123])\.norm\.' + BATCH_NORM, rf'backbone.layer{layer}.\1.bn\2.\3'),
            (source + rf'res{res}\.(\d+)\.shortcut\.weight', rf'backbone.layer{layer}.\1.downsample.0.weight'),
            (source + rf'res{res}\.(\d+)\.shortcut\.norm\.' + BATCH_NORM,
             rf'backbone.layer{layer}.\1.downsample.1.\2'))],
    ]


def fpn_rules() -> list:
    """detectron2's FPN (res2..res5 → p2..p5; P6 is a parameter-free max-pool) → mmdet's FPN (levels 0..3)."""
    return [rule for level in range(4) for detectron2, mmdet in (('lateral', 'lateral_convs'), ('output', 'fpn_convs'))
            for rule in ((rf'backbone\.fpn_{detectron2}{level + 2}\.(weight|bias)', rf'neck.{mmdet}.{level}.conv.\1'),
                         (rf'backbone\.fpn_{detectron2}{level + 2}\.norm\.' + BATCH_NORM,
                          rf'neck.{mmdet}.{level}.bn.\1'))]


HEAD = r'proposal_generator\.rpn_head\.'
RPN_HEAD_RULES = [
    (HEAD + r'conv\.(weight|bias)', r'rpn_head.rpn_conv.\1'),
    (HEAD + r'conv\.conv(\d+)\.(weight|bias)', r'rpn_head.rpn_conv.\1.conv.\2'),
    (HEAD + r'objectness_logits\.(weight|bias)', r'rpn_head.rpn_cls.\1'),
    (HEAD + r'anchor_deltas\.(weight|bias)', r'rpn_head.rpn_reg.\1'),
]
C4_RULES = [*resnet_rules(r'backbone\.', {2: 1, 3: 2, 4: 3}), *RPN_HEAD_RULES]  # C4: no res5 in the backbone
FPN_RULES = [*resnet_rules(r'backbone\.bottom_up\.', {2: 1, 3: 2, 4: 3, 5: 4}), *fpn_rules(), *RPN_HEAD_RULES]


def rpn_tensors(state_dict: Dict[str, torch.Tensor], source: str) -> Dict[str, torch.Tensor]:
    """The RPN's own tensors under detectron2's RPN-file names: ``backbone.*`` and ``proposal_generator.*`` of an
    RPN file, or the ``offline_``-prefixed ones of a RegionCLIP checkpoint."""
    if any(key.startswith(OFFLINE) for key in state_dict):
        return {key[len('offline_'):]: value for key, value in state_dict.items() if key.startswith(OFFLINE)}
    if any(key.startswith('backbone.attnpool.') for key in state_dict):
        raise ConversionError(f'{source} is a RegionCLIP checkpoint without an offline RPN (no offline_backbone.* '
                              'keys: a zero-shot-on-ground-truth model?); give the RPN file, e.g. rpn_lvis_866.pth')
    return {key: value for key, value in state_dict.items() if key.startswith(('backbone.', 'proposal_generator.'))}


def convert(source: str, destination: str, unsafe: bool = False) -> Dict[str, torch.Tensor]:
    """Convert ``source`` and write ``destination``; returns the converted state dict."""
    state_dict = read_released_checkpoint(source, unsafe)
    kept = rpn_tensors(state_dict, source)
    if 'proposal_generator.rpn_head.objectness_logits.weight' not in kept:
        raise ConversionError(f'{source} is not a detectron2 RPN checkpoint (it has no '
                              'proposal_generator.rpn_head.objectness_logits.weight, with or without offline_)')
    fpn = any(key.startswith('backbone.bottom_up.') for key in kept)
    converted = rename_keys(kept, FPN_RULES if fpn else C4_RULES, source)
    add_batch_norm_counters(converted)  # FrozenBN has no counter; mmdet's BatchNorm2d expects one
    save_converted(converted, destination, source,
                   extra_meta=dict(layout='FPN' if fpn else 'C4', dropped_from_source=len(state_dict) - len(kept)))
    return converted


def main(argv=None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.split('\n')[0])
    parser.add_argument('source', help='released RPN checkpoint (.pth, detectron2 format), e.g. rpn_coco_48.pth, '
                                       'rpn_lvis_866_lsj.pth, or a RegionCLIP checkpoint carrying its offline RPN')
    parser.add_argument('destination', help='OfflineRPN checkpoint to write (model.offline_rpn.checkpoint)')
    parser.add_argument('--unsafe-load', action='store_true',
                        help='allow any pickled object in SRC (only for a file from a source you trust)')
    args = parser.parse_args(argv)
    converted = convert(args.source, args.destination, args.unsafe_load)
    layout = 'FPN' if any(key.startswith('neck.') for key in converted) else 'C4'
    print(f'wrote {args.destination}: {len(converted)} tensors of an R50-{layout} RPN (the rest dropped)')


if __name__ == '__main__':
    run_cli(main)
