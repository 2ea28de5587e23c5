"""Convert a released RegionCLIP offline RPN (detectron2's R50-C4 Mask R-CNN trained on base classes,
e.g. ``rpn_coco_48.pth``) into the ``OfflineRPN`` checkpoint that configs/regionclip/ name in
``model.offline_rpn.checkpoint``.

    python tools/model_converters/regionclip_rpn2clipdense.py SRC DST

The reference loads only ``backbone.*`` and ``proposal_generator.*`` from this file (``BB_RPN_WEIGHTS``,
``checkpoint/clip_model_loading.py``); so does this converter. Renamed: detectron2's ResNet (``backbone.stem.conv1``,
``backbone.res2..4.<i>.conv1..3`` and ``.shortcut``, each with a FrozenBN ``.norm``) → mmdet's ResNet
(``backbone.conv1``/``bn1``, ``backbone.layer1..3.<i>.conv1..3``/``bn1..3``, ``.downsample.0``/``.1``), with the
``num_batches_tracked`` counter mmdet's BatchNorm2d expects (unused: the batch norms stay in eval mode);
``proposal_generator.rpn_head.{conv,objectness_logits,anchor_deltas}`` → ``rpn_head.{rpn_conv,rpn_cls,rpn_reg}``.
The anchor channels need no reordering: the config's anchors come in detectron2's order (``scale_major=False``).
Dropped and counted: the detector's RoI heads (``roi_heads.*``). FPN RPNs (``rpn_lvis_866*.pth``) are not converted.
"""
import argparse
from typing import Dict

import torch

from clipdense.engine.convert import ConversionError, read_released_checkpoint, rename_keys, save_converted
from clipdense.utils import run_cli

BATCH_NORM = r'(weight|bias|running_mean|running_var)'
STAGES = {2: 1, 3: 2, 4: 3}  # detectron2's res2..res4 are mmdet's layer1..layer3 (C4: no res5 in the backbone)
RULES = [
    (r'backbone\.stem\.conv1\.weight', 'backbone.conv1.weight'),
    (r'backbone\.stem\.conv1\.norm\.' + BATCH_NORM, r'backbone.bn1.\1'),
    *[rule for res, layer in STAGES.items() for rule in (
        (rf'backbone\.res{res}\.(\d+)\.conv([123])\.weight', rf'backbone.layer{layer}.\1.conv\2.weight'),
        (rf'backbone\.res{res}\.(\d+)\.conv([123])\.norm\.' + BATCH_NORM, rf'backbone.layer{layer}.\1.bn\2.\3'),
        (rf'backbone\.res{res}\.(\d+)\.shortcut\.weight', rf'backbone.layer{layer}.\1.downsample.0.weight'),
        (rf'backbone\.res{res}\.(\d+)\.shortcut\.norm\.' + BATCH_NORM, rf'backbone.layer{layer}.\1.downsample.1.\2'))],
    (r'proposal_generator\.rpn_head\.conv\.(weight|bias)', r'rpn_head.rpn_conv.\1'),
    (r'proposal_generator\.rpn_head\.objectness_logits\.(weight|bias)', r'rpn_head.rpn_cls.\1'),
    (r'proposal_generator\.rpn_head\.anchor_deltas\.(weight|bias)', r'rpn_head.rpn_reg.\1'),
    (r'roi_heads\..*', None),
]


def convert(source: str, destination: str, unsafe: bool = False) -> Dict[str, torch.Tensor]:
    """Convert ``source`` and write ``destination``; returns the converted state dict."""
    state_dict = read_released_checkpoint(source, unsafe)
    if any(key.startswith('backbone.bottom_up.') for key in state_dict):
        raise ConversionError(f'{source} is an FPN RPN (backbone.bottom_up.*): only the C4 RPN (rpn_coco_48.pth) '
                              'converts so far')
    if 'proposal_generator.rpn_head.objectness_logits.weight' not in state_dict:
        raise ConversionError(f'{source} is not a detectron2 RPN checkpoint (it has no '
                              'proposal_generator.rpn_head.objectness_logits.weight)')
    converted = rename_keys(state_dict, RULES, source)
    for key in list(converted):  # FrozenBN has no counter; mmdet's BatchNorm2d expects one
        if key.endswith('.running_mean'):
            converted[key[:-len('running_mean')] + 'num_batches_tracked'] = torch.tensor(0)
    dropped = [key for key in state_dict if key.startswith('roi_heads.')]
    save_converted(converted, destination, source, extra_meta=dict(dropped_from_source=len(dropped)))
    return converted


def main(argv=None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.split('\n')[0])
    parser.add_argument('source', help='released RPN checkpoint (.pth, detectron2 format), e.g. rpn_coco_48.pth')
    parser.add_argument('destination', help='OfflineRPN checkpoint to write (model.offline_rpn.checkpoint)')
    parser.add_argument('--unsafe-load', action='store_true',
                        help='allow any pickled object in SRC (only for a file from a source you trust)')
    args = parser.parse_args(argv)
    converted = convert(args.source, args.destination, args.unsafe_load)
    print(f'wrote {args.destination}: {len(converted)} tensors (the RoI heads dropped)')


if __name__ == '__main__':
    run_cli(main)
